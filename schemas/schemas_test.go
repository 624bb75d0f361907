package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"cuelang.org/go/encoding/jsonschema"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/internal/racetest"
)

// loadWorkflow reads testdata/workflows/<typ>.json as a JSON tree, so a test
// can change it before validating.
func loadWorkflow(t testing.TB, typ string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "workflows", typ+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.json: %v", typ, err)
	}
	return m
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeStrict decodes Complete's output into a plan type, refusing fields the
// plan type does not have: the schema and the plan must agree.
func decodeStrict(t testing.TB, b []byte, into any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
}

func TestListings(t *testing.T) {
	kinds := Kinds()
	wantKinds := []string{"model", "segment", "sender", "template", "policy", "campaign", "workflow", "sequence", "autoresponder"}
	if !slices.Equal(kinds, wantKinds) {
		t.Errorf("Kinds() = %v, want %v", kinds, wantKinds)
	}
	types := WorkflowTypes()
	if len(types) != 15 {
		t.Fatalf("WorkflowTypes() has %d types, want 15: %v", len(types), types)
	}
	// The design's table, in its order.
	want := []string{"topic", "blog_welcome", "customer_onboarding", "engaged_contacts", "lead_nurturing",
		"sales_rep_notification", "re_engagement", "event", "abandoned_cart", "upsell",
		"customer_satisfaction", "customer_success", "purchase_reminder", "customer_service", "transactional"}
	if !slices.Equal(types, want) {
		t.Errorf("WorkflowTypes() = %v, want %v", types, want)
	}
	// Callers get copies.
	types[0] = "changed"
	if WorkflowTypes()[0] != "topic" {
		t.Error("WorkflowTypes returns the package's own slice")
	}
}

// TestWorkflowDisjunctionCoversTypes checks that #Workflow, the disjunction
// exported to editors, accepts every valid example and has one arm per type,
// and that each #WorkflowTypes entry fixes its own type.
func TestWorkflowDisjunctionCoversTypes(t *testing.T) {
	ev, err := acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release(ev, false)
	w := ev.root.LookupPath(cue.ParsePath("#Workflow"))
	op, arms := w.Expr()
	if op != cue.OrOp || len(arms) != len(WorkflowTypes()) {
		t.Fatalf("#Workflow is %v with %d arms, want a disjunction of %d", op, len(arms), len(WorkflowTypes()))
	}
	for _, typ := range WorkflowTypes() {
		v := ev.types[typ].strict.LookupPath(cue.ParsePath("type"))
		if s, err := v.String(); err != nil || s != typ {
			t.Errorf("#WorkflowTypes.%s fixes type to %v (%v)", typ, v, err)
		}
		// #lenient has no default: Complete sets it; so does this test.
		data := ev.ctx.CompileBytes(mustJSON(t, loadWorkflow(t, typ))).FillPath(cue.MakePath(cue.Def("#lenient")), false)
		if err := w.Unify(data).Validate(cue.Concrete(true)); err != nil {
			t.Errorf("#Workflow refuses the valid %s example: %v", typ, err)
		}
	}
}

// TestSchemaConsistency checks what the CUE cannot check about itself: the
// lists that are written twice for speed agree.
func TestSchemaConsistency(t *testing.T) {
	ev, err := acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release(ev, false)
	enum := func(path string) []string {
		return ev.allowedValues(ev.root.LookupPath(cue.ParsePath(path)))
	}
	stepKinds := enum("#StepKind")
	var keys []string
	it, err := ev.root.LookupPath(cue.ParsePath("#StepKinds")).Fields()
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		keys = append(keys, it.Selector().Unquoted())
		kind := ev.lookup(it.Value(), []string{"kind"}, true)
		if s, err := kind.String(); err != nil || s != it.Selector().Unquoted() {
			t.Errorf("#StepKinds.%s fixes kind to %v", it.Selector().Unquoted(), kind)
		}
	}
	if len(stepKinds) != 8 || !slices.Equal(stepKinds, keys) {
		t.Errorf("#StepKind = %v, #StepKinds has %v", stepKinds, keys)
	}
	events, classes := enum("#TriggerEvent"), enum("#Class")
	if len(events) != 20 || len(classes) != 3 {
		t.Fatalf("#TriggerEvent %v, #Class %v", events, classes)
	}
	used := map[string]bool{}
	for _, typ := range WorkflowTypes() {
		s := ev.types[typ].strict
		allowed := ev.allowedValues(ev.lookup(s, []string{"trigger", "event"}, true))
		if len(allowed) == 0 {
			t.Errorf("type %s does not narrow trigger.event", typ)
		}
		for _, e := range allowed {
			used[e] = true
			if !slices.Contains(events, e) {
				t.Errorf("type %s allows trigger.event %q, which #TriggerEvent lacks", typ, e)
			}
		}
		for _, c := range ev.allowedValues(ev.lookup(s, []string{"class"}, true)) {
			if !slices.Contains(classes, c) {
				t.Errorf("type %s allows class %q, which #Class lacks", typ, c)
			}
		}
	}
	for _, e := range events {
		if !used[e] {
			t.Errorf("no workflow type accepts trigger.event %q", e)
		}
	}
}

// wantDefaults is what each type fills in for the examples, which leave class
// and reenroll unset (customer_service sets class itself).
var wantDefaults = map[string]struct {
	class    string
	reenroll bool
}{
	"topic":                  {"marketing", false},
	"blog_welcome":           {"marketing", false},
	"customer_onboarding":    {"marketing", false},
	"engaged_contacts":       {"marketing", false},
	"lead_nurturing":         {"marketing", false},
	"sales_rep_notification": {"internal", true},
	"re_engagement":          {"marketing", false},
	"event":                  {"marketing", false},
	"abandoned_cart":         {"marketing", true},
	"upsell":                 {"marketing", true},
	"customer_satisfaction":  {"marketing", true},
	"customer_success":       {"marketing", true},
	"purchase_reminder":      {"marketing", true},
	"customer_service":       {"transactional", true},
	"transactional":          {"transactional", true},
}

func TestWorkflowTypesValid(t *testing.T) {
	for _, typ := range WorkflowTypes() {
		t.Run(typ, func(t *testing.T) {
			in := loadWorkflow(t, typ)
			if _, set := in["reenroll"]; set {
				t.Fatal("the example must leave reenroll unset so its default is tested")
			}
			out, errs := Complete("workflow", mustJSON(t, in))
			if len(errs) > 0 {
				t.Fatalf("valid %s example refused: %v", typ, errs)
			}
			var w plan.Workflow
			decodeStrict(t, out, &w)
			want, ok := wantDefaults[typ]
			if !ok {
				t.Fatalf("no expected defaults for type %s", typ)
			}
			if w.Type != typ || w.Name != in["name"] {
				t.Errorf("type/name = %q/%q, want %q/%q", w.Type, w.Name, typ, in["name"])
			}
			if w.Class != want.class {
				t.Errorf("class = %q, want %q", w.Class, want.class)
			}
			if got := w.Reenroll != nil && w.Reenroll.Allowed; got != want.reenroll {
				t.Errorf("reenroll allowed = %v, want %v", got, want.reenroll)
			}
			if len(w.Steps) != len(in["steps"].([]any)) {
				t.Errorf("%d steps out, %d in", len(w.Steps), len(in["steps"].([]any)))
			}
		})
	}
	// A type-specific default that is not class or reenroll.
	out, errs := Complete("workflow", mustJSON(t, loadWorkflow(t, "engaged_contacts")))
	if errs != nil {
		t.Fatal(errs)
	}
	var w plan.Workflow
	decodeStrict(t, out, &w)
	if w.Trigger.Window != "30d" {
		t.Errorf("engaged_contacts window = %q, want the default 30d", w.Trigger.Window)
	}
}

// setPath sets (or, with del, deletes) a member of a JSON tree; path elements
// that are numbers index lists.
func setPath(t testing.TB, tree any, path string, v any, del bool) {
	t.Helper()
	parts := strings.Split(path, ".")
	cur := tree
	for i, p := range parts {
		last := i == len(parts)-1
		switch x := cur.(type) {
		case map[string]any:
			if last {
				if del {
					delete(x, p)
				} else {
					x[p] = v
				}
				return
			}
			next, ok := x[p]
			if !ok {
				next = map[string]any{}
				x[p] = next
			}
			cur = next
		case []any:
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n >= len(x) {
				t.Fatalf("setPath %s: no element %s in a list of %d", path, p, len(x))
			}
			if last {
				x[n] = v
				return
			}
			cur = x[n]
		default:
			t.Fatalf("setPath %s: %T at %s", path, cur, p)
		}
	}
}

type edit struct {
	path string
	v    any
	del  bool
}

func set(path string, v any) edit { return edit{path: path, v: v} }
func del(path string) edit        { return edit{path: path, del: true} }

type invalidCase struct {
	name     string
	base     string // workflow type whose example is edited
	edits    []edit
	wantPath string // dotted
	wantMsg  string // substring, or the exact message when exact is set
	exact    bool
}

func (c invalidCase) check(t *testing.T, errs []FieldError) {
	t.Helper()
	if len(errs) == 0 {
		t.Fatalf("no error, want %s: %s", c.wantPath, c.wantMsg)
	}
	for _, e := range errs {
		if strings.Join(e.Path, ".") != c.wantPath {
			continue
		}
		if (c.exact && e.Message == c.wantMsg) || (!c.exact && strings.Contains(e.Message, c.wantMsg)) {
			return
		}
	}
	t.Errorf("want an error at %s saying %q; got:\n%s", c.wantPath, c.wantMsg, formatErrors(errs))
}

func formatErrors(errs []FieldError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %s\n", e.Error())
	}
	return b.String()
}

func TestWorkflowTypesInvalid(t *testing.T) {
	cases := []invalidCase{
		{name: "topic without topic", base: "topic", edits: []edit{del("trigger.topic")},
			wantPath: "trigger.topic", wantMsg: `workflow type "topic" requires trigger.topic`},
		{name: "topic on a purchase", base: "topic", edits: []edit{set("trigger.event", "purchase")},
			wantPath: "trigger.event", exact: true,
			wantMsg: `trigger.event "purchase" is not allowed for type "topic"; allowed: page_view, content_download`},
		{name: "blog_welcome on a page view", base: "blog_welcome", edits: []edit{set("trigger.event", "page_view")},
			wantPath: "trigger.event", exact: true,
			wantMsg: `trigger.event "page_view" is not allowed for type "blog_welcome"; allowed: blog_subscription`},
		{name: "customer_onboarding without filter", base: "customer_onboarding", edits: []edit{del("trigger.filter")},
			wantPath: "trigger.filter", wantMsg: `requires trigger.filter`},
		{name: "engaged_contacts without threshold", base: "engaged_contacts", edits: []edit{del("trigger.threshold")},
			wantPath: "trigger.threshold", wantMsg: `workflow type "engaged_contacts" requires trigger.threshold`},
		{name: "engaged_contacts with a negative threshold", base: "engaged_contacts", edits: []edit{set("trigger.threshold", -2)},
			wantPath: "trigger.threshold", wantMsg: `trigger.threshold -2 is out of range: it must be more than 0`},
		{name: "engaged_contacts with a bad window", base: "engaged_contacts", edits: []edit{set("trigger.window", "a month")},
			wantPath: "trigger.window", wantMsg: `trigger.window "a month" must be a duration from the start`},
		{name: "lead_nurturing sent as transactional", base: "lead_nurturing", edits: []edit{set("class", "transactional")},
			wantPath: "class", wantMsg: `class "transactional" is not allowed for type "lead_nurturing"; allowed: marketing`},
		{name: "sales_rep_notification mails the contact", base: "sales_rep_notification",
			edits:    []edit{set("steps", []any{map[string]any{"name": "tell_owner", "kind": "notify_owner", "template": "alert"}, map[string]any{"name": "mail_lead", "kind": "send", "template": "promo"}})},
			wantPath: "steps.1.kind", exact: true, wantMsg: `step "mail_lead": kind must not be "send" (a sales rep notification never mails the contact: notify the owner with a notify_owner step)`},
		{name: "sales_rep_notification without notify_owner", base: "sales_rep_notification",
			edits:    []edit{set("steps", []any{map[string]any{"name": "pause", "kind": "wait", "duration": "1h"}})},
			wantPath: "steps", wantMsg: `must contain a notify_owner step`},
		{name: "sales_rep_notification as marketing", base: "sales_rep_notification", edits: []edit{set("class", "marketing")},
			wantPath: "class", wantMsg: `allowed: internal`},
		{name: "re_engagement without inactive_for", base: "re_engagement", edits: []edit{del("trigger.inactive_for")},
			wantPath: "trigger.inactive_for", wantMsg: `workflow type "re_engagement" requires trigger.inactive_for`},
		{name: "event wait not relative to the event", base: "event", edits: []edit{del("steps.1.relative_to")},
			wantPath: "steps.1.relative_to", wantMsg: `step "day_before": workflow type "event" times its waits from the event`},
		{name: "abandoned_cart without goal", base: "abandoned_cart", edits: []edit{del("goal")},
			wantPath: "goal", wantMsg: `workflow type "abandoned_cart" requires a goal (exit when the cart is purchased)`},
		{name: "upsell on an abandoned cart", base: "upsell", edits: []edit{set("trigger.event", "cart_abandoned")},
			wantPath: "trigger.event", wantMsg: `not allowed for type "upsell"; allowed: purchase, segment_entry`},
		{name: "upsell on segment entry without segment", base: "upsell", edits: []edit{set("trigger.event", "segment_entry")},
			wantPath: "trigger.segment", wantMsg: `requires trigger.segment`},
		{name: "customer_satisfaction without a branch on the score", base: "customer_satisfaction",
			edits:    []edit{set("steps.0.condition", `lead.stage == "Won"`), set("steps.2.condition", `lead.stage == "Lost"`)},
			wantPath: "steps", wantMsg: `workflow type "customer_satisfaction" must branch on the NPS score`},
		{name: "customer_success without field", base: "customer_success", edits: []edit{del("trigger.field")},
			wantPath: "trigger.field", wantMsg: `workflow type "customer_success" requires trigger.field`},
		{name: "customer_success without threshold", base: "customer_success", edits: []edit{del("trigger.threshold")},
			wantPath: "trigger.threshold", wantMsg: `requires trigger.threshold`},
		{name: "purchase_reminder without field", base: "purchase_reminder", edits: []edit{del("trigger.field")},
			wantPath: "trigger.field", wantMsg: `next-expected-purchase date`},
		{name: "customer_service without assign_owner", base: "customer_service",
			edits:    []edit{set("steps", []any{map[string]any{"name": "ack", "kind": "send", "template": "support_ack"}})},
			wantPath: "steps", wantMsg: `must contain an assign_owner step`},
		{name: "customer_service without send", base: "customer_service",
			edits:    []edit{set("steps", []any{map[string]any{"name": "assign", "kind": "assign_owner", "owners": []any{"alice"}, "field": "lead.owner"}})},
			wantPath: "steps", wantMsg: `must contain a send step`},
		{name: "customer_service as internal mail", base: "customer_service", edits: []edit{set("class", "internal")},
			wantPath: "class", wantMsg: `allowed: marketing, transactional`},
		{name: "transactional as marketing", base: "transactional", edits: []edit{set("class", "marketing")},
			wantPath: "class", wantMsg: `class "marketing" is not allowed for type "transactional"; allowed: transactional (a transactional workflow sends service mail that skips marketing opt-outs, so it may never be marketing)`, exact: true},
		{name: "transactional on a page view", base: "transactional", edits: []edit{set("trigger.event", "page_view")},
			wantPath: "trigger.event", exact: true,
			wantMsg: `trigger.event "page_view" is not allowed for type "transactional"; allowed: quote_signed`},

		// Rules every type shares.
		{name: "typo in a step field", base: "topic", edits: []edit{del("steps.1.template"), set("steps.1.tempalte", "x")},
			wantPath: "steps.1.tempalte", exact: true, wantMsg: "step \"pricing_guide\": field `tempalte` is not allowed; did you mean `template`?"},
		{name: "unknown top-level field", base: "topic", edits: []edit{set("owner", "bob")},
			wantPath: "owner", exact: true, wantMsg: "field `owner` is not allowed; allowed fields: class, goal, hash, model, name, paused, policy, reenroll, sender, steps, trigger, type"},
		{name: "misspelt step kind", base: "topic", edits: []edit{set("steps.1.kind", "sned")},
			wantPath: "steps.1.kind", wantMsg: `kind "sned" is not allowed; allowed: wait, send, branch`},
		{name: "wait without duration", base: "blog_welcome", edits: []edit{del("steps.1.duration")},
			wantPath: "steps.1.duration", exact: true, wantMsg: `step "pause": a wait step needs duration, e.g. "3d"`},
		{name: "template on a wait step", base: "blog_welcome", edits: []edit{set("steps.1.template", "x")},
			wantPath: "steps.1.template", exact: true, wantMsg: "step \"pause\": field `template` does not apply to a wait step; allowed fields: duration, kind, name, next, relative_to"},
		{name: "branch with condition and engagement", base: "re_engagement", edits: []edit{set("steps.2.condition", "true")},
			wantPath: "steps.2.engagement", wantMsg: `either a condition or an engagement, not both`},
		{name: "branch with neither", base: "re_engagement", edits: []edit{del("steps.2.engagement")},
			wantPath: "steps.2.condition", wantMsg: `a branch step needs a condition (CEL) or an engagement test`},
		{name: "branch without then", base: "re_engagement", edits: []edit{del("steps.2.then")},
			wantPath: "steps.2.then", wantMsg: `a branch step needs then`},
		{name: "engagement event unknown", base: "re_engagement", edits: []edit{set("steps.2.engagement.event", "viewed")},
			wantPath: "steps.2.engagement.event", wantMsg: `engagement.event "viewed" is not allowed; allowed: opened, clicked, replied, ignored, bounced`},
		{name: "assign_owner without owners", base: "customer_service", edits: []edit{set("steps.0.owners", []any{})},
			wantPath: "steps.0.owners", wantMsg: `an assign_owner step needs at least one owner`},
		{name: "set_property without value", base: "customer_onboarding", edits: []edit{del("steps.3.value")},
			wantPath: "steps.3.value", wantMsg: `a set_property step needs value`},
		{name: "duplicate step names", base: "abandoned_cart", edits: []edit{set("steps.2.name", "pause")},
			wantPath: "steps", wantMsg: `steps must have distinct names: "pause" is used twice`},
		{name: "no steps", base: "topic", edits: []edit{set("steps", []any{})},
			wantPath: "steps", wantMsg: `a workflow needs at least one step`},
		{name: "duration as a number", base: "topic", edits: []edit{set("steps.0.duration", 2)},
			wantPath: "steps.0.duration", exact: true, wantMsg: `step "pause": duration must be a duration such as "90m", "36h", "3d", "2w" or "1h30m" (units ms, s, m, h, d, w; a leading - means before), not 2`},
		{name: "a step that is not a block", base: "topic", edits: []edit{set("steps.1", "send it")},
			wantPath: "steps.1", exact: true, wantMsg: `step 2 must be a block, not "send it"`},
		{name: "bad duration", base: "topic", edits: []edit{set("steps.0.duration", "2 hours")},
			wantPath: "steps.0.duration", wantMsg: `step "pause": duration "2 hours" must be a duration such as`},
		{name: "reenroll after without allowed", base: "topic", edits: []edit{set("reenroll", map[string]any{"allowed": false, "after": "30d"})},
			wantPath: "reenroll.after", wantMsg: `reenroll.after only applies when reenroll.allowed is true`},
		{name: "bad name", base: "topic", edits: []edit{set("name", "Pricing Interest")},
			wantPath: "name", wantMsg: `name "Pricing Interest" must be a name in lowercase letters`},
		{name: "missing model", base: "topic", edits: []edit{del("model")},
			wantPath: "model", wantMsg: `a workflow needs model`},
		{name: "steps of the wrong type", base: "topic", edits: []edit{set("steps", "send the guide")},
			wantPath: "steps", exact: true, wantMsg: `steps must be a list, not "send the guide"`},
		{name: "unknown type", base: "abandoned_cart", edits: []edit{set("type", "abandoned_carts")},
			wantPath: "type", wantMsg: `workflow type "abandoned_carts" is not one of the 15 types; did you mean "abandoned_cart"?`},
		{name: "no type", base: "topic", edits: []edit{del("type")},
			wantPath: "type", wantMsg: `a workflow needs type: one of topic, blog_welcome`},
		{name: "unknown type still checks the rest", base: "topic", edits: []edit{set("type", "webinar"), set("steps.1.kind", "mail")},
			wantPath: "steps.1.kind", wantMsg: `kind "mail" is not allowed`},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.base] = true
		t.Run(c.name, func(t *testing.T) {
			in := loadWorkflow(t, c.base)
			for _, e := range c.edits {
				setPath(t, in, e.path, e.v, e.del)
			}
			out, errs := Complete("workflow", mustJSON(t, in))
			if out != nil {
				t.Errorf("an invalid workflow completed: %s", out)
			}
			c.check(t, errs)
		})
	}
	for _, typ := range WorkflowTypes() {
		if !covered[typ] {
			t.Errorf("no invalid case for workflow type %s", typ)
		}
	}
}

// TestSeveralMistakesOneRun: the marketer sees every mistake at once, not one
// per compile, including missing required fields that CUE only reports when
// nothing else is wrong.
func TestSeveralMistakesOneRun(t *testing.T) {
	in := loadWorkflow(t, "transactional")
	in["class"] = "marketing"
	in["foo"] = 1
	delete(in, "model")
	setPath(t, in, "trigger.event", "page_view", false)
	setPath(t, in, "steps", []any{
		map[string]any{"name": "confirmation", "kind": "send", "tempalte": "order_confirmation"},
		map[string]any{"name": "pause", "kind": "wait"},
		map[string]any{"name": "Mark", "kind": "sned"},
	}, false)
	_, errs := Complete("workflow", mustJSON(t, in))
	want := map[string]string{
		"class":            `class "marketing" is not allowed for type "transactional"`,
		"foo":              "field `foo` is not allowed",
		"model":            "a workflow needs model",
		"steps.0.tempalte": "did you mean `template`?",
		"steps.1.duration": "a wait step needs duration",
		"steps.2.kind":     `(did you mean "send"?)`,
		"steps.2.name":     `name "Mark" must be a name in lowercase letters`,
		"trigger.event":    `allowed: quote_signed`,
	}
	got := map[string]string{}
	for _, e := range errs {
		got[strings.Join(e.Path, ".")] = e.Message
	}
	for path, msg := range want {
		if !strings.Contains(got[path], msg) {
			t.Errorf("at %s: got %q, want it to contain %q", path, got[path], msg)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("got %d errors, want %d (the typo explains the missing template):\n%s", len(errs), len(want), formatErrors(errs))
	}
	// Sorted by path, list indexes as numbers.
	if !slices.IsSortedFunc(errs, func(a, b FieldError) int {
		return strings.Compare(strings.Join(a.Path, "."), strings.Join(b.Path, "."))
	}) {
		t.Errorf("errors not sorted by path:\n%s", formatErrors(errs))
	}
}

type kindCase struct {
	name     string
	kind     string
	in       string // JSON
	wantPath string // dotted; empty with wantMsg "" means valid
	wantMsg  string
	exact    bool
	check    func(t *testing.T, out []byte)
}

func TestKinds(t *testing.T) {
	restock := `{"name":"restock_nurture","model":"lead","segment":"lost_not_enough_stock","sender":"warehouse",
		"goal":"lead.stage == \"Won\"",
		"steps":[
		 {"name":"week_1","offset":"0d","template":"back_in_stock","ab_test":{"variants":[{"name":"a","subject":"Limited items are back in stock! Act now!"},{"name":"b","subject":"Back in stock: yours before they're gone"}],"test_percent":20,"metric":"open_rate"}},
		 {"name":"week_2_ignored","offset":"7d","template":"stock_running_low","when":{"step":"week_1","event":"ignored"}},
		 {"name":"week_2_clicked","offset":"7d","template":"still_time","when":{"step":"week_1","event":"clicked"}},
		 {"name":"week_3","offset":"14d","template":"last_chance_20_off"}]}`
	cases := []kindCase{
		{name: "model", kind: "model", in: `{"name":"lead","table":"crm_lead","key":"id","email":"email_from","time_zone":"time_zone","default_filter":"lead.active",
			"fields":[{"name":"stage","type":"string"},{"name":"created_at","column":"create_date","type":"timestamp"}]}`,
			check: func(t *testing.T, out []byte) {
				var m plan.Model
				decodeStrict(t, out, &m)
				if m.Fields[0].Column != "stage" || m.Fields[1].Column != "create_date" {
					t.Errorf("columns = %q, %q; want the name as default and an explicit column kept", m.Fields[0].Column, m.Fields[1].Column)
				}
			}},
		{name: "model field type", kind: "model", in: `{"name":"lead","table":"crm_lead","key":"id","email":"email_from","fields":[{"name":"stage","type":"text"}]}`,
			wantPath: "fields.0.type", wantMsg: `field "stage": type "text" is not allowed; allowed: string, int, float, bool, timestamp, list(string)`, exact: true},
		{name: "model duplicate fields", kind: "model", in: `{"name":"lead","table":"crm_lead","key":"id","email":"email_from","fields":[{"name":"stage","type":"string"},{"name":"stage","type":"int"}]}`,
			wantPath: "fields", exact: true, wantMsg: `fields must have distinct names: "stage" is used twice`},
		{name: "model without table", kind: "model", in: `{"name":"lead","key":"id","email":"email_from","fields":[]}`,
			wantPath: "table", wantMsg: `a model needs table`},

		{name: "segment", kind: "segment", in: `{"name":"lost","model":"lead","filter":"lead.stage == \"Lost\"","include_archived":true}`},
		{name: "segment without filter", kind: "segment", in: `{"name":"lost","model":"lead"}`,
			wantPath: "filter", wantMsg: `a segment needs a filter`},
		{name: "segment blank filter", kind: "segment", in: `{"name":"lost","model":"lead","filter":"  "}`,
			wantPath: "filter", wantMsg: `filter "  " must be a non-empty text`},
		{name: "segment include_archived text", kind: "segment", in: `{"name":"lost","model":"lead","filter":"true","include_archived":"yes"}`,
			wantPath: "include_archived", exact: true, wantMsg: `include_archived must be true or false, not "yes"`},

		{name: "sender", kind: "sender", in: `{"name":"warehouse","from":"Acme Warehouse <news@acme.example>","reply_to":"sales@acme.example"}`},
		{name: "sender bad from", kind: "sender", in: `{"name":"warehouse","from":"news at acme"}`,
			wantPath: "from", wantMsg: `from "news at acme" must be an email address`},

		{name: "template default class", kind: "template", in: `{"name":"welcome","subject":"Hi","text":"Hello {{ .lead.name }}"}`,
			check: func(t *testing.T, out []byte) {
				var tp plan.Template
				decodeStrict(t, out, &tp)
				if tp.Class != "marketing" {
					t.Errorf("class = %q, want the default marketing", tp.Class)
				}
			}},
		{name: "template without body", kind: "template", in: `{"name":"welcome","subject":"Hi"}`,
			wantPath: "text", wantMsg: `a template needs a body: set html, text or both`},
		{name: "template bad class", kind: "template", in: `{"name":"welcome","subject":"Hi","text":"x","class":"promo"}`,
			wantPath: "class", wantMsg: `class "promo" is not allowed; allowed: marketing, transactional, internal`, exact: true},

		{name: "policy", kind: "policy", in: `{"name":"default","daily_quota":5000,"rate_per_minute":120,
			"quiet_hours":{"start":"21:00","end":"08:00"},"frequency_cap":{"max":3,"per":"7d"},
			"suppress":["unsubscribed","blacklisted","hard_bounce","complaint"],
			"bypass":{"transactional":["quiet_hours","frequency_cap","unsubscribed"],"internal":["quiet_hours"]},
			"require_org_reply_to":true,"org_domains":["acme.example"],"audience_growth_warn_percent":50}`},
		{name: "policy marketing bypasses unsubscribes", kind: "policy", in: `{"name":"p","bypass":{"marketing":["unsubscribed"]}}`,
			wantPath: "bypass.marketing.0", wantMsg: `marketing mail must honour unsubscribes and the blacklist`},
		{name: "policy bypass of an unknown class", kind: "policy", in: `{"name":"p","bypass":{"promo":["quiet_hours"]}}`,
			wantPath: "bypass.promo", wantMsg: "field `promo` is not allowed"},
		{name: "policy org reply-to without domains", kind: "policy", in: `{"name":"p","require_org_reply_to":true}`,
			wantPath: "org_domains", wantMsg: `require_org_reply_to needs org_domains`},
		{name: "policy quiet hours", kind: "policy", in: `{"name":"p","quiet_hours":{"start":"9pm","end":"08:00"}}`,
			wantPath: "quiet_hours.start", wantMsg: `quiet_hours.start "9pm" must be a time of day as HH:MM`},
		{name: "policy suppression source", kind: "policy", in: `{"name":"p","suppress":["bounced"]}`,
			wantPath: "suppress.0", wantMsg: `suppression source "bounced" is not allowed; allowed: unsubscribed, blacklisted, hard_bounce, complaint`, exact: true},

		{name: "campaign with A/B test", kind: "campaign", in: `{"name":"lost_leads_reactivation","segment":"lost","template":"back_in_stock","sender":"warehouse",
			"ab_test":{"variants":[{"name":"a","subject":"Back in stock!"},{"name":"b","template":"back_in_stock_v2"}],"test_percent":20,"metric":"click_rate"}}`,
			check: func(t *testing.T, out []byte) {
				var c plan.Campaign
				decodeStrict(t, out, &c)
				if c.Class != "marketing" || c.ABTest.DecideAfter != "24h" || c.ABTest.Inconclusive != "send_first" {
					t.Errorf("defaults not applied: class %q, decide_after %q, inconclusive %q", c.Class, c.ABTest.DecideAfter, c.ABTest.Inconclusive)
				}
			}},
		{name: "campaign one variant", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x",
			"ab_test":{"variants":[{"name":"a","subject":"Hi"}],"test_percent":20,"metric":"open_rate"}}`,
			wantPath: "ab_test.variants", wantMsg: `an A/B test needs at least 2 variants`, exact: true},
		{name: "campaign test percent", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x",
			"ab_test":{"variants":[{"name":"a","subject":"Hi"},{"name":"b","subject":"Yo"}],"test_percent":120,"metric":"open_rate"}}`,
			wantPath: "ab_test.test_percent", wantMsg: `ab_test.test_percent 120 is out of range: it must be at most 99`},
		{name: "campaign metric", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x",
			"ab_test":{"variants":[{"name":"a","subject":"Hi"},{"name":"b","subject":"Yo"}],"test_percent":20,"metric":"ctr"}}`,
			wantPath: "ab_test.metric", wantMsg: `allowed: open_rate, click_rate, reply_rate, conversions, revenue`},
		{name: "campaign inconclusive", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x",
			"ab_test":{"variants":[{"name":"a","subject":"Hi"},{"name":"b","subject":"Yo"}],"test_percent":20,"metric":"revenue","inconclusive":"retry"}}`,
			wantPath: "ab_test.inconclusive", wantMsg: `allowed: send_first, send_all, stop`},
		{name: "campaign variant that changes nothing", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x",
			"ab_test":{"variants":[{"name":"a","subject":"Hi"},{"name":"b"}],"test_percent":20,"metric":"open_rate"}}`,
			wantPath: "ab_test.variants.1.subject", wantMsg: `ab_test / variant "b": an A/B variant changes the subject, the template or both`},
		{name: "campaign send_at", kind: "campaign", in: `{"name":"c","segment":"s","template":"t","sender":"x","send_at":"tomorrow 9am"}`,
			wantPath: "send_at", wantMsg: `an RFC 3339 time`},

		{name: "sequence (restock nurture)", kind: "sequence", in: restock,
			check: func(t *testing.T, out []byte) {
				var s plan.Sequence
				decodeStrict(t, out, &s)
				if len(s.Steps) != 4 || s.Steps[0].ABTest.DecideAfter != "24h" || s.Steps[1].When.Event != "ignored" {
					t.Errorf("sequence not completed as written: %s", out)
				}
			}},
		{name: "sequence engagement event", kind: "sequence", in: strings.Replace(restock, `"event":"ignored"`, `"event":"viewed"`, 1),
			wantPath: "steps.1.when.event", wantMsg: `step "week_2_ignored": when.event "viewed" is not allowed`},
		{name: "sequence negative offset", kind: "sequence", in: strings.Replace(restock, `"offset":"14d"`, `"offset":"-14d"`, 1),
			wantPath: "steps.3.offset", wantMsg: `it cannot be negative`},
		{name: "sequence duplicate steps", kind: "sequence", in: strings.Replace(restock, `"week_3"`, `"week_1"`, 1),
			wantPath: "steps", wantMsg: `"week_1" is used twice`},

		{name: "autoresponder single", kind: "autoresponder", in: `{"name":"trial_welcome","model":"lead","segment":"trial_signups","sender":"warehouse","mode":"single","start":"2025-03-01",
			"follow_ups":[{"name":"welcome","offset":"0d","template":"trial_welcome"},{"name":"day_3","offset":"3d","template":"trial_tips"},{"name":"day_10","offset":"10d","template":"trial_ending"}],
			"do_not_email":"lead.do_not_email"}`,
			check: func(t *testing.T, out []byte) {
				var a plan.Autoresponder
				decodeStrict(t, out, &a)
				if a.MaxFollowUps != 10 || !a.ExcludeResponders {
					t.Errorf("defaults not applied: max_follow_ups %d, exclude_responders %v", a.MaxFollowUps, a.ExcludeResponders)
				}
			}},
		{name: "autoresponder keeps an explicit false", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"month","every":2,"day_of_month":15},"template":"monthly_news","exclude_responders":false}`,
			check: func(t *testing.T, out []byte) {
				var a plan.Autoresponder
				decodeStrict(t, out, &a)
				if a.ExcludeResponders || a.Recurrence.DayOfMonth != 15 || a.Recurrence.Every != 2 {
					t.Errorf("explicit values lost: %s", out)
				}
			}},
		{name: "autoresponder weekly default every", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"week","weekdays":["mon","thu"]},"template":"t"}`,
			check: func(t *testing.T, out []byte) {
				var a plan.Autoresponder
				decodeStrict(t, out, &a)
				if a.Recurrence.Every != 1 {
					t.Errorf("every = %d, want the default 1", a.Recurrence.Every)
				}
			}},
		{name: "autoresponder weekly without weekdays", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"week","every":1},"template":"t"}`,
			wantPath: "recurrence.weekdays", wantMsg: `a weekly recurrence needs weekdays, e.g. ["mon", "thu"]`},
		{name: "autoresponder weekly empty weekdays", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"week","weekdays":[]},"template":"t"}`,
			wantPath: "recurrence.weekdays", wantMsg: `a weekly recurrence needs at least one weekday`},
		{name: "autoresponder weekday", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"week","weekdays":["monday"]},"template":"t"}`,
			wantPath: "recurrence.weekdays.0", wantMsg: `allowed: mon, tue, wed, thu, fri, sat, sun`},
		{name: "autoresponder day of month", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"month","day_of_month":32},"template":"t"}`,
			wantPath: "recurrence.day_of_month", wantMsg: `recurrence.day_of_month 32 is out of range: it must be at most 31`},
		{name: "autoresponder daily with weekdays", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"day","every":3,"weekdays":["mon"]},"template":"t"}`,
			wantPath: "recurrence.weekdays", wantMsg: `weekdays only applies to a weekly recurrence, not to unit day`},
		{name: "autoresponder multiple without template", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple",
			"recurrence":{"unit":"day","every":3}}`,
			wantPath: "template", wantMsg: `a multiple-response autoresponder needs template`},
		{name: "autoresponder single with recurrence", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"single",
			"follow_ups":[{"name":"f","offset":"3d","template":"t"}],"recurrence":{"unit":"day"}}`,
			wantPath: "recurrence", wantMsg: `recurrence only applies to mode "multiple"`},
		{name: "autoresponder single without follow-ups", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"single"}`,
			wantPath: "follow_ups", wantMsg: `a single-response autoresponder needs follow_ups`},
		{name: "autoresponder too many follow-ups", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"single","max_follow_ups":1,
			"follow_ups":[{"name":"f1","offset":"3d","template":"t"},{"name":"f2","offset":"10d","template":"t"}]}`,
			wantPath: "follow_ups", wantMsg: `follow_ups has 2 entries, more than the 1 allowed`},
		{name: "autoresponder max_follow_ups zero", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"single","max_follow_ups":0,
			"follow_ups":[{"name":"f1","offset":"3d","template":"t"}]}`,
			wantPath: "max_follow_ups", wantMsg: `max_follow_ups 0 is out of range: it must be at least 1`},
		{name: "autoresponder mode", kind: "autoresponder", in: `{"name":"a","model":"lead","segment":"s","sender":"x","mode":"once"}`,
			wantPath: "mode", wantMsg: `mode "once" is not allowed; allowed: single, multiple`},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.kind] = true
		t.Run(c.name, func(t *testing.T) {
			out, errs := Complete(c.kind, []byte(c.in))
			if c.wantMsg == "" {
				if len(errs) > 0 {
					t.Fatalf("valid %s refused:\n%s", c.kind, formatErrors(errs))
				}
				if c.check != nil {
					c.check(t, out)
				}
				return
			}
			if out != nil {
				t.Errorf("invalid %s completed: %s", c.kind, out)
			}
			invalidCase{wantPath: c.wantPath, wantMsg: c.wantMsg, exact: c.exact}.check(t, errs)
		})
	}
	for _, k := range Kinds() {
		if !covered[k] && k != "workflow" {
			t.Errorf("no case for kind %s", k)
		}
	}
}

func TestBadInput(t *testing.T) {
	cases := []struct {
		kind string
		in   any
		want string
	}{
		{"workflow", []byte(`[1, 2]`), "a workflow must be a block of fields, not a list"},
		{"workflow", []byte(`{"name": `), "reading the object as JSON"},
		{"workflow", []byte(`{} {}`), "more than one value"},
		{"workflow", nil, "no object given"},
		{"campaign", make(chan int), "encoding chan int as JSON"},
		{"newsletter", []byte(`{}`), `unknown kind "newsletter"; known kinds: model, segment`},
		{"workflow", []byte(`{"type": 7}`), "type must be a text, not a number"},
		{"segment", []byte(`{"name":"s","model":"lead","filter":"true","include_archived":null}`), "include_archived"},
		{"campaign", []byte(`{"name":"c","segment":"s","template":"t","sender":"x","ab_test":{"variants":[{"name":"a","subject":"x"},{"name":"b","subject":"y"}],"test_percent":1e400,"metric":"revenue"}}`), "test_percent"},
	}
	for _, c := range cases {
		out, errs := Complete(c.kind, c.in)
		if out != nil || len(errs) == 0 {
			t.Errorf("Complete(%s, %v) = %s, %v; want an error", c.kind, c.in, out, errs)
			continue
		}
		if !strings.Contains(formatErrors(errs), c.want) {
			t.Errorf("Complete(%s, %v): got\n%s want %q", c.kind, c.in, formatErrors(errs), c.want)
		}
	}
}

// TestStructInput: plan structs are accepted; fields a struct cannot leave out
// (Class "") count as not written, so the defaults apply.
func TestStructInput(t *testing.T) {
	out, errs := Complete("template", plan.Template{Name: "welcome", Subject: "Hi", Text: "Hello"})
	if errs != nil {
		t.Fatal(errs)
	}
	var tp plan.Template
	decodeStrict(t, out, &tp)
	if tp.Class != plan.ClassMarketing || tp.Text != "Hello" {
		t.Errorf("got %+v", tp)
	}

	w := &plan.Workflow{
		Name: "quote_signed_confirmation", Type: "transactional", Model: "lead",
		Trigger: plan.Trigger{Event: "quote_signed"},
		Steps:   []plan.Step{{Name: "confirmation", Kind: plan.StepSend, Template: "order_confirmation"}},
	}
	out, errs = Complete("workflow", w)
	if errs != nil {
		t.Fatal(errs)
	}
	var got plan.Workflow
	decodeStrict(t, out, &got)
	if got.Class != plan.ClassTransactional || got.Reenroll == nil || !got.Reenroll.Allowed {
		t.Errorf("defaults not applied to a struct: %+v", got)
	}
	// Round trip: the completed struct validates again to the same bytes.
	again, errs := Complete("workflow", got)
	if errs != nil || !bytes.Equal(again, out) {
		t.Errorf("second pass: %s, %v; want %s", again, errs, out)
	}

	// A struct with a missing required field is refused with its JSON path.
	_, errs = Complete("workflow", plan.Workflow{Name: "x", Type: "topic", Model: "lead",
		Trigger: plan.Trigger{Event: "page_view"}, Steps: []plan.Step{{Name: "s", Kind: "send", Template: "t"}}})
	invalidCase{wantPath: "trigger.topic", wantMsg: "requires trigger.topic"}.check(t, errs)
}

// TestSchemaMatchesPlanTypes keeps the CUE definitions and the plan's JSON in
// step: every JSON field of a plan type is a field of its definition, and the
// other way round.
func TestSchemaMatchesPlanTypes(t *testing.T) {
	ev, err := acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer release(ev, false)
	pairs := []struct {
		goType any
		def    string
	}{
		{plan.Model{}, "#Model"}, {plan.Field{}, "#Field"}, {plan.Segment{}, "#Segment"},
		{plan.Sender{}, "#Sender"}, {plan.Template{}, "#Template"}, {plan.Policy{}, "#Policy"},
		{plan.QuietHours{}, "#Policy.quiet_hours"}, {plan.FrequencyCap{}, "#Policy.frequency_cap"},
		{plan.Campaign{}, "#Campaign"}, {plan.ABTest{}, "#ABTest"}, {plan.Variant{}, "#Variant"},
		{plan.Workflow{}, "#WorkflowShape"}, {plan.Trigger{}, "#Trigger"}, {plan.Reenroll{}, "#Reenroll"},
		{plan.Step{}, "#StepKinds.*"}, {plan.Engagement{}, "#Engagement"}, {plan.Sequence{}, "#Sequence"},
		{plan.SequenceStep{}, "#SequenceStep"}, {plan.Autoresponder{}, "#Autoresponder"},
		{plan.FollowUp{}, "#FollowUp"}, {plan.Recurrence{}, "#Recurrence"},
	}
	for _, p := range pairs {
		typ := reflect.TypeOf(p.goType)
		var goFields []string
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" {
				goFields = append(goFields, name)
			}
		}
		// "#StepKinds.*": a step is one of several definitions; the plan
		// type holds the union of their fields.
		parts := strings.Split(p.def, ".")
		var defs []cue.Value
		if parts[len(parts)-1] == "*" {
			it, err := ev.root.LookupPath(cue.ParsePath(parts[0])).Fields()
			if err != nil {
				t.Fatal(err)
			}
			for it.Next() {
				defs = append(defs, it.Value())
			}
		} else {
			defs = append(defs, ev.lookup(ev.root.LookupPath(cue.ParsePath(parts[0])), parts[1:], true))
		}
		var cueFields []string
		for _, v := range defs {
			it, err := v.Fields(cue.Optional(true))
			if err != nil {
				t.Errorf("%s: %v", p.def, err)
				continue
			}
			for it.Next() {
				if name := it.Selector().Unquoted(); it.Selector().IsString() && !slices.Contains(cueFields, name) {
					cueFields = append(cueFields, name)
				}
			}
		}
		slices.Sort(goFields)
		slices.Sort(cueFields)
		if !slices.Equal(goFields, cueFields) {
			t.Errorf("plan.%s has JSON fields %v; %s has %v", typ.Name(), goFields, p.def, cueFields)
		}
	}
}

func TestConcurrentComplete(t *testing.T) {
	type job struct {
		kind string
		in   []byte
	}
	var jobs []job
	for _, typ := range WorkflowTypes() {
		jobs = append(jobs, job{"workflow", mustJSON(t, loadWorkflow(t, typ))})
		bad := loadWorkflow(t, typ)
		bad["class"] = "nonsense"
		jobs = append(jobs, job{"workflow", mustJSON(t, bad)})
	}
	jobs = append(jobs, job{"template", []byte(`{"name":"t","subject":"s"}`)})

	// Serial results first, then the same work from many goroutines at once.
	want := make([]string, len(jobs))
	for i, j := range jobs {
		out, errs := Complete(j.kind, j.in)
		want[i] = fmt.Sprint(string(out), errs)
	}
	const workers, rounds = 8, 5
	var wg sync.WaitGroup
	failures := make(chan string, workers*rounds*len(jobs))
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range jobs {
					i := (k + w + r) % len(jobs)
					out, errs := Complete(jobs[i].kind, jobs[i].in)
					if got := fmt.Sprint(string(out), errs); got != want[i] {
						failures <- fmt.Sprintf("job %d: got %s, want %s", i, got, want[i])
					}
				}
			}
		}()
	}
	wg.Wait()
	close(failures)
	for f := range failures {
		t.Error(f)
	}
}

// sequentialOnly skips t under the race detector. The package's code starts
// no goroutine, and a test that starts none either gives the race detector
// nothing to find (TestConcurrentComplete is the package's race test), while
// the heaviest ones cost it half a minute of CPU. make test runs them without
// -race (plain_also in scripts/test.sh).
func sequentialOnly(t *testing.T) {
	t.Helper()
	racetest.Skip(t, "sequential: runs without -race (scripts/test.sh, plain_also)")
}

func TestJSONSchema(t *testing.T) {
	sequentialOnly(t)
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", doc["$schema"])
	}
	defs, _ := doc["$defs"].(map[string]any)
	for _, name := range []string{"Model", "Segment", "Sender", "Template", "Policy", "Campaign", "Workflow", "Sequence", "Autoresponder", "Step", "Trigger", "ABTest"} {
		if _, ok := defs[name]; !ok {
			t.Errorf("$defs has no %s", name)
		}
	}
	props, _ := doc["properties"].(map[string]any)
	for _, p := range []string{"models", "segments", "senders", "templates", "policies", "campaigns", "workflows", "sequences", "autoresponders"} {
		if _, ok := props[p]; !ok {
			t.Errorf("root has no property %s", p)
		}
	}
	arms, _ := defs["Workflow"].(map[string]any)["anyOf"].([]any)
	if len(arms) != 15 {
		t.Errorf("Workflow has %d alternatives, want 15", len(arms))
	}
	text := string(b)
	for _, typ := range WorkflowTypes() {
		if !strings.Contains(text, fmt.Sprintf(`"const": %q`, typ)) {
			t.Errorf("no definition fixes type %q", typ)
		}
	}
	for name := range defs {
		if strings.HasSuffix(name, "Rules") {
			t.Errorf("rules definition %s leaked into the JSON Schema", name)
		}
	}

	// The schema is usable: CUE reads it back as JSON Schema, the valid
	// examples satisfy it and an unknown field or a wrong trigger does not.
	ctx := cuecontext.New()
	f, err := jsonschema.Extract(ctx.CompileBytes(b), &jsonschema.Config{})
	if err != nil {
		t.Fatalf("the export is not readable JSON Schema: %v", err)
	}
	schema := ctx.BuildFile(f)
	if err := schema.Err(); err != nil {
		t.Fatal(err)
	}
	var workflows []any
	for _, typ := range WorkflowTypes() {
		workflows = append(workflows, loadWorkflow(t, typ))
	}
	good := ctx.CompileBytes(mustJSON(t, map[string]any{"workflows": workflows}))
	if err := schema.Unify(good).Validate(cue.Concrete(true)); err != nil {
		t.Errorf("the valid examples fail the exported JSON Schema: %v", err)
	}
	for name, w := range map[string]func(map[string]any){
		"unknown field": func(m map[string]any) { m["tempalte"] = "x" },
		"wrong trigger": func(m map[string]any) { setPath(t, m, "trigger.event", "page_view", false) },
		"wrong class":   func(m map[string]any) { m["class"] = "marketing" },
	} {
		bad := loadWorkflow(t, "transactional")
		w(bad)
		v := ctx.CompileBytes(mustJSON(t, map[string]any{"workflows": []any{bad}}))
		if err := schema.Unify(v).Validate(cue.Concrete(true)); err == nil {
			t.Errorf("%s: the exported JSON Schema accepts %v", name, bad)
		}
	}
}

// FuzzComplete: no input makes Complete panic or return both a value and
// errors, and whatever it accepts it accepts again unchanged. The kind is
// picked by a number, so the fuzzer spends its time inside the schemas rather
// than on unknown kinds.
func FuzzComplete(f *testing.F) {
	kinds := Kinds()
	kindOf := func(name string) uint8 { return uint8(slices.Index(kinds, name)) }
	for _, typ := range []string{"topic", "event", "customer_service", "transactional", "re_engagement"} {
		b, err := os.ReadFile(filepath.Join("testdata", "workflows", typ+".json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(kindOf("workflow"), b)
	}
	f.Add(kindOf("autoresponder"), []byte(`{"name":"a","model":"lead","segment":"s","sender":"x","mode":"multiple","recurrence":{"unit":"week","weekdays":["mon"]},"template":"t"}`))
	f.Add(kindOf("campaign"), []byte(`{"name":"c","segment":"s","template":"t","sender":"x","ab_test":{"variants":[{"name":"a","subject":"x"},{"name":"b","subject":"y"}],"test_percent":20,"metric":"revenue"}}`))
	f.Add(kindOf("policy"), []byte(`{"name":"p","quiet_hours":{"start":"21:00","end":"08:00"},"bypass":{"transactional":["quiet_hours"]},"suppress":["unsubscribed"]}`))
	f.Add(kindOf("model"), []byte(`{"name":"lead","table":"crm_lead","key":"id","email":"email_from","fields":[{"name":"stage","type":"string"}]}`))
	f.Fuzz(func(t *testing.T, k uint8, in []byte) {
		kind := kinds[int(k)%len(kinds)]
		out, errs := Complete(kind, in)
		if out != nil && errs != nil {
			t.Fatalf("both a value and errors: %s %v", out, errs)
		}
		if out == nil && len(errs) == 0 {
			t.Fatal("neither a value nor errors")
		}
		for _, e := range errs {
			if e.Message == "" || strings.Contains(e.Message, "internal error") {
				t.Fatalf("bad message at %v: %q", e.Path, e.Message)
			}
		}
		if out != nil {
			again, errs := Complete(kind, out)
			if errs != nil || !bytes.Equal(again, out) {
				t.Fatalf("completed output does not complete to itself: %s → %s %v", out, again, errs)
			}
		}
	})
}

// manyMistakes is a workflow with a thousand wrong steps.
func manyMistakes(t testing.TB) []byte {
	w := loadWorkflow(t, "topic")
	var steps []any
	for i := range 1000 {
		steps = append(steps, map[string]any{"name": fmt.Sprintf("S%d", i), "kind": "sned", "tempalte": "x"})
	}
	w["steps"] = steps
	return mustJSON(t, w)
}

// TestManyMistakesStayCheap: an object with a thousand wrong steps is
// reported briefly, in a bounded number of passes: CUE reports the mistakes
// of one list element per pass, so the first maxRecoveryRounds+1 steps are
// reported, not all. Its time is BenchmarkManyMistakes's (a timed test
// failed under -race on a loaded machine).
func TestManyMistakesStayCheap(t *testing.T) {
	sequentialOnly(t)
	_, errs := Complete("workflow", manyMistakes(t))
	if len(errs) < 2*(maxRecoveryRounds+1) || len(errs) > maxErrors+1 {
		t.Errorf("got %d errors, want between %d and %d:\n%s", len(errs), 2*(maxRecoveryRounds+1), maxErrors+1, formatErrors(errs))
	}
	for _, e := range errs {
		if !strings.Contains(e.Message, `kind "sned" is not allowed`) && !strings.Contains(e.Message, "must be a name in lowercase") {
			t.Errorf("unexpected error %v", e)
		}
	}
}

// BenchmarkManyMistakes: the cost of reporting a workflow with a thousand
// wrong steps (2.5 s a report without -race on the 2-core machine while
// it ran other work).
func BenchmarkManyMistakes(b *testing.B) {
	in := manyMistakes(b)
	for b.Loop() {
		if _, errs := Complete("workflow", in); len(errs) == 0 {
			b.Fatal("no errors")
		}
	}
}

// BenchmarkCompleteWorkflow: one workflow of five steps (customer_satisfaction,
// whose rule reads every step), the costliest example.
func BenchmarkCompleteWorkflow(b *testing.B) {
	in := mustJSON(b, loadWorkflow(b, "customer_satisfaction"))
	b.ReportAllocs()
	cpu0, _ := processCPU()
	for b.Loop() {
		if _, errs := Complete("workflow", in); errs != nil {
			b.Fatal(errs)
		}
	}
	reportPerObject(b, 1, cpu0)
}

// BenchmarkCompleteTemplate: a small object, for scale.
func BenchmarkCompleteTemplate(b *testing.B) {
	in := []byte(`{"name":"welcome","subject":"Hi","text":"Hello {{ .lead.name }}","html":"<p>Hello</p>"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := Complete("template", in); errs != nil {
			b.Fatal(errs)
		}
	}
}

// thousandWorkflows is 1,000 valid workflows, the 15 types in turn.
func thousandWorkflows(b *testing.B) [][]byte {
	objs := make([][]byte, 0, 1000)
	types := WorkflowTypes()
	for i := range 1000 {
		w := loadWorkflow(b, types[i%len(types)])
		w["name"] = fmt.Sprintf("%s_%d", w["name"], i)
		objs = append(objs, mustJSON(b, w))
	}
	return objs
}

// reportPerObject adds ns/object (wall) and cpu-ns/object (CPU time of the
// process, GC included) to a benchmark that handles n objects per iteration.
func reportPerObject(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/object")
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/object")
	}
}

// BenchmarkComplete1000 validates 1,000 workflows of every type, serially.
func BenchmarkComplete1000(b *testing.B) {
	objs := thousandWorkflows(b)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	for b.Loop() {
		for _, o := range objs {
			if _, errs := Complete("workflow", o); errs != nil {
				b.Fatal(errs)
			}
		}
	}
	reportPerObject(b, len(objs), cpu0)
}

// BenchmarkComplete1000Parallel validates the same 1,000 workflows from
// GOMAXPROCS goroutines, as a compiler checking a tree would.
func BenchmarkComplete1000Parallel(b *testing.B) {
	objs := thousandWorkflows(b)
	b.ReportAllocs()
	cpu0, _ := processCPU()
	for b.Loop() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := next.Add(1) - 1; i < int64(len(objs)); i = next.Add(1) - 1 {
					if _, errs := Complete("workflow", objs[i]); errs != nil {
						b.Error(errs)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	reportPerObject(b, len(objs), cpu0)
}

func BenchmarkCompleteParallel(b *testing.B) {
	in := mustJSON(b, loadWorkflow(b, "customer_satisfaction"))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, errs := Complete("workflow", in); errs != nil {
				b.Error(errs)
				return
			}
		}
	})
}

func BenchmarkCompleteInvalidWorkflow(b *testing.B) {
	in := loadWorkflow(b, "transactional")
	in["class"] = "marketing"
	in["foo"] = 1
	setPath(b, in, "trigger.event", "page_view", false)
	raw := mustJSON(b, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := Complete("workflow", raw); errs == nil {
			b.Fatal("no errors")
		}
	}
}
