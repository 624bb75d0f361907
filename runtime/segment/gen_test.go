package segment_test

import (
	"math/rand"
	"strconv"
	"strings"
)

// exprGen generates random, well-typed CEL filters over leadModel. It is seeded,
// so a corpus is reproducible, and biased toward the values and shapes where SQL
// and CEL disagree unless the translation is careful.
type exprGen struct {
	r *rand.Rand
	// unsupported is the chance that a leaf uses something the translator
	// refuses, which sends the whole filter to the in-process path.
	unsupported float64
	refs        []string
	// elems are the element variables of the exists/all macros being generated;
	// Str uses them as string operands.
	elems []string
}

func newExprGen(seed int64) *exprGen {
	return &exprGen{r: rand.New(rand.NewSource(seed)), unsupported: 0.02,
		refs: []string{"vip", "lost_leads", "unsupported"}}
}

var (
	genStrFields = []string{"lead.name", "lead.stage", "lead.lost_reason", "lead.kind"}
	genIntFields = []string{"lead.score", "lead.priority"}
	genAllFields = []string{"name", "stage", "lost_reason", "kind", "active", "blacklisted", "created_at", "score", "priority", "probability", "tags"}
	genStrLits   = []string{"", "New", "new", "NEW", "Qualified", "Won", "Lost", "Not enough stock", "a%b", "a_b", `a\b`, "%", "_", `\`, "é", "É", "ß", "日本語", "😀", "a", "ab", "abc", "zz", "Z", "~", " ", "x\ny", "vip", "v", "N", "new lead", "a.c", "NULL", "lead", "it's"}
	genIntLits   = []string{"0", "1", "-1", "2", "3", "10", "42", "100", "-100", "9223372036854775807", "-9223372036854775807", "2147483647", "4294967296"}
	genFloatLits = []string{"0.0", "-0.0", "0.5", "1.0", "-1.0", "0.1", "0.3", "0.30000000000000004", "99.5", "100.0", "1e308", "5e-324", `double("NaN")`, `double("Inf")`, `-double("Inf")`}
	genTimeLits  = []string{`timestamp("2024-01-01T00:00:01Z")`, `timestamp("2024-01-01T00:00:00Z")`, `timestamp("2024-01-01T00:00:00.999999Z")`, `timestamp("2023-12-31T23:00:01-01:00")`, `timestamp("1970-01-01T00:00:00Z")`, `timestamp("0001-01-01T00:00:00Z")`, `timestamp("9999-12-31T23:59:59.999999Z")`, `now`, `now - duration("720h")`, `timestamp("2024-01-01T00:00:00.0000005Z")`, `timestamp("2024-01-01T00:00:01", "Europe/Brussels")`, `timestamp("2024-07-01", "America/New_York")`}
	genDurations = []string{"1h", "720h", "1us", "-1us", "87600h", "2562047h", "0s", "1.5s"}
	genPatterns  = []string{"^New$", "new", "^a.c$", "[a-c]+", "é", "^$", ".", "b$", "x.y", "(?s)x.y", "a|b", "^(ab|zz)", "[^a-z]", `\d`, `\s`, `\w+`, "😀", "a{2,3}", "^.{3}$", "%", "_", `\\`, `\.`, "(?i)new", `\bnew`, "(?m)^x$", `\pL+`, "^[A-Z][a-z]+$", "ss|ß"}
	genCmpOps    = []string{"==", "!=", "<", "<=", ">", ">="}
	// Engagement predicates read the events fixture of openLeadsWithEvents.
	genEngagement = []string{
		`lead.clicked(days(30))`, `lead.opened(days(14))`, `lead.opened("restock_nurture", "week1")`,
		`lead.clicked("restock_nurture", "")`, `lead.inactive_for(days(90))`, `lead.inactive_for(duration("36h"))`,
	}
	genEventCounts = []string{
		`lead.event_count("page_view", days(14))`, `lead.event_count("page_view", "makeup", days(14))`,
		`lead.event_count("click", days(30))`, `lead.event_count("form_submit", duration("2160h"))`,
	}
	genUnsupported = []string{
		`lead.tags.exists_one(t, t == "vip")`, `size(lead.tags.filter(t, t.startsWith("v"))) > 0`, `lead.name.trim() == ""`, `int(lead.probability) > 0`,
		`lead.tags[0] == "vip"`, `lead.created_at.getHours() > 12`, `double(lead.score) > 1.0`,
		`lead.probability * 2.0 > 1.0`, `string(lead.score) == "1"`, `lead.name.indexOf("a") == 0`,
	}
)

func (g *exprGen) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }
func (g *exprGen) chance(p float64) bool   { return g.r.Float64() < p }

// Bool generates a bool expression of at most the given depth.
func (g *exprGen) Bool(depth int) string {
	if depth <= 0 || g.chance(0.2) {
		return g.boolLeaf(depth)
	}
	switch n := g.r.Intn(100); {
	case n < 32:
		return "(" + g.Bool(depth-1) + " && " + g.Bool(depth-1) + ")"
	case n < 60:
		return "(" + g.Bool(depth-1) + " || " + g.Bool(depth-1) + ")"
	case n < 78:
		return "!(" + g.Bool(depth-1) + ")"
	case n < 84:
		return "((" + g.Bool(depth-1) + ") ? (" + g.Bool(depth-1) + ") : (" + g.Bool(depth-1) + "))"
	case n < 90:
		return "((" + g.Bool(depth-1) + ") " + g.pick([]string{"==", "!="}) + " (" + g.Bool(depth-1) + "))"
	}
	return g.boolLeaf(depth)
}

func (g *exprGen) boolLeaf(depth int) string {
	if g.chance(g.unsupported) {
		return g.pick(genUnsupported)
	}
	vd := 1
	if depth > 1 && g.chance(0.3) {
		vd = 2
	}
	switch g.r.Intn(28) {
	case 0:
		return g.pick([]string{"lead.active", "lead.blacklisted"})
	case 1:
		return "has(lead." + g.pick(genAllFields) + ")"
	case 2, 3:
		return g.Str(vd) + " " + g.pick(genCmpOps) + " " + g.Str(vd)
	case 4, 5:
		return g.Int(vd) + " " + g.pick(genCmpOps) + " " + g.Int(vd)
	case 6, 7:
		return g.Float(vd) + " " + g.pick(genCmpOps) + " " + g.Float(vd)
	case 8, 9:
		return g.Time(vd) + " " + g.pick(genCmpOps) + " " + g.Time(vd)
	case 10:
		return g.Str(vd) + " in " + g.list(genStrLits, strconv.Quote)
	case 11:
		return g.Int(vd) + " in " + g.list(genIntLits, nil)
	case 12:
		return g.Float(vd) + " in " + g.list(genFloatLits, nil)
	case 13:
		return g.Str(vd) + " in lead.tags"
	case 14:
		return g.Str(vd) + " in [" + g.Str(1) + ", " + g.Str(1) + "]"
	case 15, 16:
		return g.Str(vd) + "." + g.pick([]string{"startsWith", "endsWith", "contains"}) + "(" + g.Str(1) + ")"
	case 17:
		return g.Str(vd) + ".matches(" + strconv.Quote(g.pick(genPatterns)) + ")"
	case 18:
		return "size(lead.tags) " + g.pick(genCmpOps) + " " + g.pick([]string{"0", "1", "2"})
	case 19:
		return "size(" + g.Str(vd) + ") " + g.pick(genCmpOps) + " " + g.pick([]string{"0", "1", "2", "3", "4"})
	case 20:
		return "segment." + g.pick(g.refs)
	case 21:
		return g.Time(vd) + " in " + g.list(genTimeLits, nil)
	case 22:
		return "(" + g.Bool(0) + ") in " + g.list([]string{"true", "false"}, nil)
	case 23, 24:
		return g.pick(genEngagement)
	case 25, 26:
		if len(g.elems) < 2 {
			v := []string{"t", "u"}[len(g.elems)]
			g.elems = append(g.elems, v)
			body := g.Bool(min(depth, 2))
			g.elems = g.elems[:len(g.elems)-1]
			return "lead.tags." + g.pick([]string{"exists", "all"}) + "(" + v + ", " + body + ")"
		}
	}
	return g.pick([]string{"true", "false"})
}

func (g *exprGen) list(pool []string, quote func(string) string) string {
	n := g.r.Intn(4)
	items := make([]string, n)
	for i := range items {
		items[i] = g.pick(pool)
		if quote != nil {
			items[i] = quote(items[i])
		}
	}
	return "[" + strings.Join(items, ", ") + "]"
}

// Str generates a string expression.
func (g *exprGen) Str(depth int) string {
	if depth <= 0 || g.chance(0.6) {
		if len(g.elems) > 0 && g.chance(0.5) {
			return g.pick(g.elems)
		}
		if g.chance(0.55) {
			return g.pick(genStrFields)
		}
		if g.chance(0.02) {
			return `"a\x00"`
		}
		return strconv.Quote(g.pick(genStrLits))
	}
	switch g.r.Intn(4) {
	case 0:
		return "(" + g.Str(depth-1) + " + " + g.Str(depth-1) + ")"
	case 1:
		return g.Str(depth-1) + "." + g.pick([]string{"lowerAscii()", "upperAscii()"})
	case 2:
		return "((" + g.Bool(0) + ") ? " + g.Str(depth-1) + " : " + g.Str(depth-1) + ")"
	}
	return g.pick(genStrFields)
}

// Int generates an int expression.
func (g *exprGen) Int(depth int) string {
	if depth <= 0 || g.chance(0.5) {
		if g.chance(0.55) {
			return g.pick(genIntFields)
		}
		return g.pick(genIntLits)
	}
	switch g.r.Intn(7) {
	case 0, 1:
		return "(" + g.Int(depth-1) + " " + g.pick([]string{"+", "-", "*"}) + " " + g.Int(depth-1) + ")"
	case 2:
		return "(" + g.Int(depth-1) + " " + g.pick([]string{"/", "%"}) + " " + g.Int(depth-1) + ")"
	case 3:
		return "-" + g.Int(depth-1)
	case 4:
		return "size(" + g.pick([]string{"lead.tags", g.Str(depth - 1)}) + ")"
	case 5:
		return "((" + g.Bool(0) + ") ? " + g.Int(depth-1) + " : " + g.Int(depth-1) + ")"
	case 6:
		return g.pick(genEventCounts)
	}
	return g.pick(genIntFields)
}

// Float generates a double expression.
func (g *exprGen) Float(depth int) string {
	if depth <= 0 || g.chance(0.6) {
		if g.chance(0.6) {
			return "lead.probability"
		}
		return g.pick(genFloatLits)
	}
	if g.chance(0.8) {
		return "-" + g.Float(depth-1)
	}
	return "((" + g.Bool(0) + ") ? " + g.Float(depth-1) + " : " + g.Float(depth-1) + ")"
}

// Time generates a timestamp expression.
func (g *exprGen) Time(depth int) string {
	if depth <= 0 || g.chance(0.5) {
		if g.chance(0.55) {
			return "lead.created_at"
		}
		return g.pick(genTimeLits)
	}
	switch g.r.Intn(4) {
	case 0, 1:
		return "(" + g.Time(depth-1) + " " + g.pick([]string{"+", "-"}) + " duration(" + strconv.Quote(g.pick(genDurations)) + "))"
	case 2:
		return "(duration(" + strconv.Quote(g.pick(genDurations)) + ") + " + g.Time(depth-1) + ")"
	}
	return "((" + g.Bool(0) + ") ? " + g.Time(depth-1) + " : " + g.Time(depth-1) + ")"
}

// corpus returns n filters from seed.
func corpus(seed int64, n int) []string {
	g := newExprGen(seed)
	out := make([]string, n)
	for i := range out {
		out[i] = g.Bool(1 + g.r.Intn(4))
	}
	return out
}
