package abtest

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func abTest(percent int, metric, inconclusive string, names ...string) *plan.ABTest {
	t := &plan.ABTest{TestPercent: percent, Metric: metric, DecideAfter: "4h", Inconclusive: inconclusive}
	for _, n := range names {
		t.Variants = append(t.Variants, plan.Variant{Name: n, Subject: "subject " + n})
	}
	return t
}

// The pinned placements were computed outside Go (Python's hashlib) from the
// scheme the package documents, so they catch both a changed hash and a drift
// between the code and its documentation.
func TestAssignPinned(t *testing.T) {
	three := func(percent int) *plan.ABTest {
		return abTest(percent, "open_rate", "", "personal", "urgent", "plain")
	}
	tests := []struct {
		key         string
		percent     int
		wantVariant string
		wantInTest  bool
	}{
		{"alice@example.com", 50, "personal", true}, // bucket 27
		{"bob@example.com", 50, "plain", true},      // bucket 35
		{"carol@example.com", 50, "urgent", true},   // bucket 10
		{"erin@example.com", 50, "urgent", true},    // bucket 9
		{"frank@example.com", 50, "", false},        // bucket 70
		{"grace@example.com", 50, "", false},        // bucket 58
		// The bucket must be strictly below TestPercent.
		{"alice@example.com", 27, "", false},
		{"alice@example.com", 28, "personal", true},
		{"frank@example.com", 70, "", false},
		{"frank@example.com", 71, "personal", true},
		// Out-of-range percentages clamp.
		{"frank@example.com", 100, "personal", true},
		{"frank@example.com", 150, "personal", true},
		{"carol@example.com", 0, "", false},
		{"carol@example.com", -5, "", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.key, tt.percent), func(t *testing.T) {
			ab := three(tt.percent)
			for range 2 {
				v, in := Assign("campaign", "spring-sale", "announce", tt.key, ab)
				if v != tt.wantVariant || in != tt.wantInTest {
					t.Fatalf("Assign = (%q, %v), want (%q, %v)", v, in, tt.wantVariant, tt.wantInTest)
				}
			}
		})
	}
}

func TestAssignDegenerate(t *testing.T) {
	for name, ab := range map[string]*plan.ABTest{
		"nil":         nil,
		"no variants": {TestPercent: 50},
	} {
		if v, in := Assign("campaign", "c", "s", "k", ab); v != "" || in {
			t.Errorf("%s: Assign = (%q, %v), want (\"\", false)", name, v, in)
		}
		if v := SplitVariant("campaign", "c", "s", "k", ab); v != "" {
			t.Errorf("%s: SplitVariant = %q, want \"\"", name, v)
		}
	}
}

func keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("contact-%05d@example.com", i)
	}
	return ks
}

// within reports whether got is within 4 standard deviations of a binomial(n, p).
func within(got, n int, p float64) (ok bool, mean, tol float64) {
	mean = float64(n) * p
	tol = 4 * math.Sqrt(float64(n)*p*(1-p))
	return math.Abs(float64(got)-mean) <= tol, mean, tol
}

func TestAssignShares(t *testing.T) {
	const n = 10000
	tests := []struct {
		percent  int
		variants []string
	}{
		{10, []string{"a", "b"}},
		{20, []string{"a", "b"}},
		{50, []string{"a", "b", "c"}},
		{90, []string{"a", "b", "c", "d"}},
		{99, []string{"a", "b", "c", "d", "e"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d%%/%d", tt.percent, len(tt.variants)), func(t *testing.T) {
			ab := abTest(tt.percent, "click_rate", "", tt.variants...)
			perVariant := map[string]int{}
			inTest := 0
			for _, k := range keys(n) {
				v, in := Assign("campaign", "newsletter", "send", k, ab)
				if in != (v != "") {
					t.Fatalf("%s: Assign = (%q, %v): a test contact needs a variant and a remainder contact none", k, v, in)
				}
				if !in {
					continue
				}
				inTest++
				perVariant[v]++
				if sv := SplitVariant("campaign", "newsletter", "send", k, ab); sv != v {
					t.Fatalf("%s: SplitVariant = %q, Assign gave the test contact %q", k, sv, v)
				}
			}
			if ok, mean, tol := within(inTest, n, float64(tt.percent)/100); !ok {
				t.Errorf("%d of %d contacts in the test, want %.0f ± %.0f", inTest, n, mean, tol)
			}
			if len(perVariant) != len(tt.variants) {
				t.Errorf("variants used: %v, want all of %v", perVariant, tt.variants)
			}
			for _, name := range tt.variants {
				if ok, mean, tol := within(perVariant[name], inTest, 1/float64(len(tt.variants))); !ok {
					t.Errorf("variant %s got %d of %d test contacts, want %.0f ± %.0f", name, perVariant[name], inTest, mean, tol)
				}
			}
		})
	}
}

// A contact's place in one send must not predict its place in another: the
// agreement between two placements is what independent placements would give.
func TestAssignReshuffles(t *testing.T) {
	const n = 10000
	ab := abTest(20, "open_rate", "", "a", "b")
	// Independent placements agree when both are remainder (0.8²) or both are
	// the same variant of the test (0.2² / 2).
	const pSame = 0.8*0.8 + 0.2*0.2/2
	base := func(kind, object, step, key string) string {
		v, _ := Assign(kind, object, step, key, ab)
		return v
	}
	tests := []struct {
		name               string
		kind, object, step string
	}{
		{"other step", "campaign", "spring-sale", "reminder"},
		{"other object", "campaign", "summer-sale", "announce"},
		{"other kind", "workflow", "spring-sale", "announce"},
		// The separator keeps field boundaries: moving a character across one
		// is a different place.
		{"shifted boundary", "campaign", "spring-salea", "nnounce"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			same := 0
			for _, k := range keys(n) {
				if base("campaign", "spring-sale", "announce", k) == base(tt.kind, tt.object, tt.step, k) {
					same++
				}
			}
			if ok, mean, tol := within(same, n, pSame); !ok {
				t.Errorf("%d of %d contacts kept their place, want %.0f ± %.0f as for independent placements", same, n, mean, tol)
			}
		})
	}
}

func TestZTest(t *testing.T) {
	// Reference values from mpmath at 30 digits.
	tests := []struct {
		s1, n1, s2, n2 int64
		z, p           float64
	}{
		{200, 1000, 250, 1000, -2.677397763008330, 0.007419649261025675},
		{250, 1000, 200, 1000, 2.677397763008330, 0.007419649261025675},
		{300, 1000, 200, 1000, 5.163977794943223, 2.417563881119021e-7},
		{250, 1000, 240, 1000, 0.5199103751763136, 0.6031260437095336},
		{0, 100, 0, 50, 0, 1},
		{100, 100, 50, 50, 0, 1},
	}
	for _, tt := range tests {
		z, p := ZTest(tt.s1, tt.n1, tt.s2, tt.n2)
		if !near(z, tt.z, 1e-12) || !near(p, tt.p, 1e-9) {
			t.Errorf("ZTest(%d/%d vs %d/%d) = (%.15g, %.15g), want (%.15g, %.15g)", tt.s1, tt.n1, tt.s2, tt.n2, z, p, tt.z, tt.p)
		}
	}
	for _, bad := range [][4]int64{{0, 0, 1, 10}, {1, 10, 0, 0}, {11, 10, 1, 10}, {-1, 10, 1, 10}, {1, -10, 1, 10}} {
		if z, p := ZTest(bad[0], bad[1], bad[2], bad[3]); !math.IsNaN(z) || !math.IsNaN(p) {
			t.Errorf("ZTest(%v) = (%v, %v), want NaN, NaN", bad, z, p)
		}
	}
}

// near reports whether got is within a relative tolerance of want (absolute
// near zero).
func near(got, want, tol float64) bool {
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func TestStudentTwoSided(t *testing.T) {
	tests := []struct {
		t, df, p float64
	}{
		// Textbook table values; the rest from mpmath's betainc.
		{2.0, 10, 0.07338803477074037},
		{1.96, 1e6, 0.04999606758526979},
		{2.228, 10, 0.05001177181711137},
		{12.706, 1, 0.05000080235813319},
		{1.5, 3.7, 0.2135981692020135},
		{0.3, 2, 0.7924856608401776},
		{8, 5, 0.0004929066605724441},
		{2.5, 200, 0.01322317264170079},
		{40, 3, 3.438068078915853e-5},
		{0.001, 50, 0.9992060947755017},
		{-2.0, 10, 0.07338803477074037},
		{0, 7, 1},
		{math.Inf(1), 7, 0},
	}
	for _, tt := range tests {
		if got := studentTwoSided(tt.t, tt.df); math.Abs(got-tt.p) > 1e-10*tt.p {
			t.Errorf("studentTwoSided(%v, %v) = %.16g, want %.16g", tt.t, tt.df, got, tt.p)
		}
	}
	// Closed forms: df = 1 is the Cauchy distribution, df = 2 has its own.
	for _, x := range []float64{0.1, 0.5, 1, 2, 5, 30, 1000} {
		if got, want := studentTwoSided(x, 1), 1-2/math.Pi*math.Atan(x); math.Abs(got-want) > 1e-12 {
			t.Errorf("df=1, t=%v: %.16g, want %.16g", x, got, want)
		}
		if got, want := studentTwoSided(x, 2), 1-x/math.Sqrt(2+x*x); math.Abs(got-want) > 1e-12 {
			t.Errorf("df=2, t=%v: %.16g, want %.16g", x, got, want)
		}
	}
	// Large df approaches the normal distribution.
	for _, x := range []float64{0.5, 1.96, 3} {
		if got, want := studentTwoSided(x, 1e8), normalTwoSided(x); math.Abs(got-want) > 1e-7 {
			t.Errorf("df=1e8, t=%v: %.16g, want the normal's %.16g", x, got, want)
		}
	}
}

func TestLogBeta(t *testing.T) {
	// Reference values from mpmath; the large arguments are where summing
	// math.Lgamma would lose digits.
	for _, tt := range []struct{ a, b, want float64 }{
		{0.5, 3, 0.06453852113757117},
		{0.5, 12.5, -0.6805020408007404},
		{0.5, 5e5, -5.988816495777464},
		{5e5, 0.5, -5.988816495777464},
		{0.5, 5e7, -8.291401836271510},
		{20, 30, -33.96882079197738},
		{1e4, 2.5e4, -20942.95358673276},
	} {
		if got := logBeta(tt.a, tt.b); math.Abs(got-tt.want) > 1e-13*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("logBeta(%v, %v) = %.16g, want %.16g", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestStudentQuantile975(t *testing.T) {
	for _, tt := range []struct{ df, want float64 }{
		{1, 12.70620473617470},
		{2.5, 3.574654842003683},
		{10, 2.228138851986275},
		{30, 2.042272456301238},
	} {
		if got := studentQuantile975(tt.df); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("studentQuantile975(%v) = %.15g, want %.15g", tt.df, got, tt.want)
		}
	}
}

func TestWelchT(t *testing.T) {
	// The two worked examples of Welch's test on Wikipedia; t, df and p from
	// mpmath at 30 digits.
	tests := []struct {
		name     string
		a, b     []float64
		t, df, p float64
	}{
		{
			"unequal variances, equal sizes",
			[]float64{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4},
			[]float64{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4},
			-2.455356398286004, 24.98852929023141, 0.02137800146286706,
		},
		{
			"unequal variances and sizes",
			[]float64{17.2, 20.9, 22.6, 18.1, 21.7, 21.4, 23.5, 24.2, 14.7, 21.8},
			[]float64{21.5, 22.8, 21.0, 23.0, 21.6, 23.6, 22.5, 20.7, 23.4, 21.8, 20.7, 21.7, 21.5, 22.5, 23.6, 21.5, 22.5, 23.5, 21.5, 21.8},
			-1.565433523598506, 9.904741248650829, 0.1488416966053279,
		},
		{"no spread, equal means", []float64{3, 3, 3}, []float64{3, 3}, 0, 3, 1},
		{"no spread, different means", []float64{4, 4, 4}, []float64{3, 3}, math.Inf(1), 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gt, gdf, gp := WelchT(tt.a, tt.b)
			if !(gt == tt.t || near(gt, tt.t, 1e-12)) || !near(gdf, tt.df, 1e-12) || !near(gp, tt.p, 1e-10) {
				t.Errorf("WelchT = (%.16g, %.16g, %.16g), want (%.16g, %.16g, %.16g)", gt, gdf, gp, tt.t, tt.df, tt.p)
			}
		})
	}
	for _, in := range [][2][]float64{{nil, {1, 2}}, {{1}, {1, 2}}, {{1, 2}, {3}}} {
		if gt, gdf, gp := WelchT(in[0], in[1]); !math.IsNaN(gt) || !math.IsNaN(gdf) || !math.IsNaN(gp) {
			t.Errorf("WelchT(%v, %v) = (%v, %v, %v), want NaN", in[0], in[1], gt, gdf, gp)
		}
	}
}

func TestWilson(t *testing.T) {
	// 30 of 100; bounds from mpmath.
	iv := wilson(30, 100)
	if iv.Value != 0.3 || math.Abs(iv.Low-0.2189488529493276) > 1e-12 || math.Abs(iv.High-0.3958485463334667) > 1e-12 {
		t.Errorf("wilson(30, 100) = %+v, want 0.3 in [0.218948852949328, 0.395848546333467]", iv)
	}
	// At 0 and at n the interval stays inside [0, 1] and is not empty.
	if iv := wilson(0, 50); iv.Low != 0 || iv.High <= 0 || iv.High > 0.1 {
		t.Errorf("wilson(0, 50) = %+v, want [0, ~0.07]", iv)
	}
	if iv := wilson(50, 50); iv.High != 1 || iv.Low >= 1 || iv.Low < 0.9 {
		t.Errorf("wilson(50, 50) = %+v, want [~0.93, 1]", iv)
	}
	if iv := wilson(0, 0); iv != (Interval{0, 0, 1}) {
		t.Errorf("wilson(0, 0) = %+v, want {0 0 1}", iv)
	}
}

// revenueSample is n per-contact revenue values with the given mean: most
// contacts buy nothing, buyers spend a spread of amounts. Deterministic.
func revenueSample(n int, buyEvery int, base float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		if i%buyEvery == 0 {
			xs[i] = base + float64((i*37)%21) - 10 // base ± 10
		}
	}
	return xs
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		test   *plan.ABTest
		counts []Count
		want   Verdict // Rates are checked separately
		// reason holds substrings Reason must contain.
		reason []string
	}{
		{
			name: "clear winner that is not the first variant",
			test: abTest(20, "open_rate", "stop", "urgent", "personal"),
			counts: []Count{
				{Variant: "urgent", Sent: 1000, Successes: 200},
				{Variant: "personal", Sent: 1000, Successes: 300},
			},
			want: Verdict{Winner: "personal", Significant: true, Test: "two-proportion z-test",
				PValue: 2.417563881119021e-7, Decision: "winner"},
			reason: []string{"personal opened 30.0% vs urgent 20.0% (p<0.001)"},
		},
		{
			name: "200 vs 250 of 1000",
			test: abTest(20, "click_rate", "", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 1000, Successes: 200},
				{Variant: "b", Sent: 1000, Successes: 250},
			},
			want: Verdict{Winner: "b", Significant: true, Test: "two-proportion z-test",
				PValue: 0.007419649261025675, Decision: "winner"},
			reason: []string{"b clicked 25.0% vs a 20.0% (p=0.0074 < 0.05)"},
		},
		{
			name: "close rates, send_first",
			test: abTest(20, "open_rate", "send_first", "urgent", "personal"),
			counts: []Count{
				{Variant: "urgent", Sent: 1000, Successes: 240},
				{Variant: "personal", Sent: 1000, Successes: 250},
			},
			// The first variant wins by policy although it has the lower rate.
			want: Verdict{Winner: "urgent", Test: "two-proportion z-test",
				PValue: 0.6031260437095336, Decision: "inconclusive: send_first"},
			reason: []string{"personal opened 25.0% vs urgent 24.0% (p=0.6 >= 0.05)", "not a significant difference", "first variant, urgent"},
		},
		{
			name: "close rates, empty policy means send_first",
			test: abTest(20, "reply_rate", "", "urgent", "personal"),
			counts: []Count{
				{Variant: "urgent", Sent: 1000, Successes: 240},
				{Variant: "personal", Sent: 1000, Successes: 250},
			},
			want: Verdict{Winner: "urgent", Test: "two-proportion z-test",
				PValue: 0.6031260437095336, Decision: "inconclusive: send_first"},
			reason: []string{"personal replied 25.0%"},
		},
		{
			name: "close rates, send_all",
			test: abTest(20, "open_rate", "send_all", "urgent", "personal"),
			counts: []Count{
				{Variant: "urgent", Sent: 1000, Successes: 240},
				{Variant: "personal", Sent: 1000, Successes: 250},
			},
			want: Verdict{SendAll: true, Test: "two-proportion z-test",
				PValue: 0.6031260437095336, Decision: "inconclusive: send_all"},
			reason: []string{"split among all variants"},
		},
		{
			name: "close rates, stop",
			test: abTest(20, "open_rate", "stop", "urgent", "personal"),
			counts: []Count{
				{Variant: "urgent", Sent: 1000, Successes: 240},
				{Variant: "personal", Sent: 1000, Successes: 250},
			},
			want: Verdict{Stop: true, Test: "two-proportion z-test",
				PValue: 0.6031260437095336, Decision: "inconclusive: stop"},
			reason: []string{"the remainder gets nothing"},
		},
		{
			name: "tie",
			test: abTest(20, "conversions", "send_all", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 500, Successes: 50},
				{Variant: "b", Sent: 500, Successes: 50},
			},
			want:   Verdict{SendAll: true, Test: "two-proportion z-test", PValue: 1, Decision: "inconclusive: send_all"},
			reason: []string{"a and b tie at 10.0%"},
		},
		{
			name: "three variants: best vs runner-up only",
			test: abTest(30, "open_rate", "stop", "a", "b", "c"),
			counts: []Count{
				{Variant: "a", Sent: 1000, Successes: 300},
				{Variant: "b", Sent: 1000, Successes: 280},
				{Variant: "c", Sent: 1000, Successes: 200},
			},
			// a beats c clearly, but not b: no winner.
			want: Verdict{Stop: true, Test: "two-proportion z-test",
				PValue: 0.3243448907116546, Decision: "inconclusive: stop"},
			reason: []string{"a opened 30.0% vs b 28.0%"},
		},
		{
			name: "three variants with a clear winner",
			test: abTest(30, "open_rate", "stop", "a", "b", "c"),
			counts: []Count{
				{Variant: "a", Sent: 1000, Successes: 200},
				{Variant: "b", Sent: 1000, Successes: 250},
				{Variant: "c", Sent: 1000, Successes: 300},
			},
			want: Verdict{Winner: "c", Significant: true, Test: "two-proportion z-test",
				PValue: 0.01228273897237738, Decision: "winner"},
			reason: []string{"c opened 30.0% vs b 25.0%"},
		},
		{
			name: "too few sends, though the difference looks large",
			test: abTest(20, "open_rate", "send_first", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 29, Successes: 1},
				{Variant: "b", Sent: 29, Successes: 12},
			},
			want: Verdict{Winner: "a", Test: "two-proportion z-test",
				PValue: 0.0005329823573652218, Decision: "inconclusive: send_first"},
			reason: []string{"too few sends", "a had 29 and b had 29", "at least 30"},
		},
		{
			name:   "no counts at all",
			test:   abTest(20, "open_rate", "stop", "a", "b"),
			counts: nil,
			want:   Verdict{Stop: true, Test: "two-proportion z-test", PValue: 1, Decision: "inconclusive: stop"},
			reason: []string{"too few sends", "a had 0 and b had 0"},
		},
		{
			name: "zero sends on one side",
			test: abTest(20, "open_rate", "send_first", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 0, Successes: 0},
				{Variant: "b", Sent: 1000, Successes: 300},
			},
			want:   Verdict{Winner: "a", Test: "two-proportion z-test", PValue: 1, Decision: "inconclusive: send_first"},
			reason: []string{"a had 0"},
		},
		{
			name: "revenue, clear winner",
			test: abTest(20, "revenue", "stop", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 2000, Revenue: revenueSample(2000, 10, 50)},
				{Variant: "b", Sent: 2000, Revenue: revenueSample(2000, 10, 80)},
			},
			want:   Verdict{Winner: "b", Significant: true, Test: "Welch's t-test", PValue: -1, Decision: "winner"},
			reason: []string{"b earned 8.00 per contact vs a 5.00 per contact"},
		},
		{
			name: "revenue, close means",
			test: abTest(20, "revenue", "send_all", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 500, Revenue: revenueSample(500, 10, 50)},
				{Variant: "b", Sent: 500, Revenue: revenueSample(500, 10, 51)},
			},
			want:   Verdict{SendAll: true, Test: "Welch's t-test", PValue: -1, Decision: "inconclusive: send_all"},
			reason: []string{"not a significant difference"},
		},
		{
			name: "revenue, no purchases anywhere",
			test: abTest(20, "revenue", "", "a", "b"),
			counts: []Count{
				{Variant: "a", Sent: 100, Revenue: make([]float64, 100)},
				{Variant: "b", Sent: 100, Revenue: make([]float64, 100)},
			},
			want:   Verdict{Winner: "a", Test: "Welch's t-test", PValue: 1, Decision: "inconclusive: send_first"},
			reason: []string{"tie at 0.00 per contact"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.test, tt.counts)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if got.Winner != tt.want.Winner || got.Significant != tt.want.Significant || got.Test != tt.want.Test ||
				got.Decision != tt.want.Decision || got.SendAll != tt.want.SendAll || got.Stop != tt.want.Stop {
				t.Errorf("Decide = winner %q significant %v test %q decision %q sendAll %v stop %v\nwant   winner %q significant %v test %q decision %q sendAll %v stop %v",
					got.Winner, got.Significant, got.Test, got.Decision, got.SendAll, got.Stop,
					tt.want.Winner, tt.want.Significant, tt.want.Test, tt.want.Decision, tt.want.SendAll, tt.want.Stop)
			}
			switch {
			case tt.want.PValue < 0: // only the side of Alpha is known
				if (got.PValue < Alpha) != tt.want.Significant {
					t.Errorf("PValue = %v, want it on the other side of %v", got.PValue, Alpha)
				}
			case math.Abs(got.PValue-tt.want.PValue) > 1e-3*tt.want.PValue:
				t.Errorf("PValue = %.10g, want %.10g", got.PValue, tt.want.PValue)
			}
			if got.Significant && got.PValue >= Alpha {
				t.Errorf("Significant with p = %v", got.PValue)
			}
			for _, s := range tt.reason {
				if !strings.Contains(got.Reason, s) {
					t.Errorf("Reason %q does not contain %q", got.Reason, s)
				}
			}
			checkRates(t, tt.test, tt.counts, got)
		})
	}
}

// checkRates checks that every variant has a finite value inside its interval,
// equal to its observed rate or mean, and that the verdict encodes as JSON.
func checkRates(t *testing.T, test *plan.ABTest, counts []Count, got Verdict) {
	t.Helper()
	if len(got.Rates) != len(test.Variants) {
		t.Errorf("Rates has %d variants, want %d: %v", len(got.Rates), len(test.Variants), got.Rates)
	}
	for _, c := range counts {
		iv, ok := got.Rates[c.Variant]
		if !ok {
			t.Errorf("Rates lacks variant %q", c.Variant)
			continue
		}
		want := 0.0
		switch {
		case test.Metric == "revenue" && len(c.Revenue) > 0:
			for _, r := range c.Revenue {
				want += r
			}
			want /= float64(len(c.Revenue))
		case test.Metric != "revenue" && c.Sent > 0:
			want = float64(c.Successes) / float64(c.Sent)
		}
		if math.Abs(iv.Value-want) > 1e-9 || !(iv.Low <= iv.Value && iv.Value <= iv.High) {
			t.Errorf("Rates[%q] = %+v, want value %v inside the interval", c.Variant, iv, want)
		}
	}
	if _, err := json.Marshal(got); err != nil {
		t.Errorf("verdict does not encode as JSON: %v", err)
	}
}

func TestDecideRevenueInterval(t *testing.T) {
	// Means 5 and 8 with known spread; the interval is mean ± t(0.975, n-1)·s/√n.
	a := []float64{4, 6, 5, 5, 4, 6, 5, 5, 4, 6}
	got, err := Decide(abTest(20, "revenue", "", "a", "b"), []Count{{Variant: "a", Sent: 10, Revenue: a}})
	if err != nil {
		t.Fatal(err)
	}
	_, variance := meanVariance(a)
	half := 2.262157162798205 * math.Sqrt(variance/10) // t(0.975, 9)
	if iv := got.Rates["a"]; iv.Value != 5 || math.Abs(iv.Low-(5-half)) > 1e-9 || math.Abs(iv.High-(5+half)) > 1e-9 {
		t.Errorf("Rates[a] = %+v, want 5 ± %.6f", iv, half)
	}
	if iv := got.Rates["b"]; iv != (Interval{}) {
		t.Errorf("Rates[b] without values = %+v, want zero", iv)
	}
}

func TestDecideInvalid(t *testing.T) {
	ok := abTest(20, "open_rate", "", "a", "b")
	tests := []struct {
		name   string
		test   *plan.ABTest
		counts []Count
		want   string
	}{
		{"nil test", nil, nil, "no A/B test"},
		{"unknown metric", abTest(20, "bounce_rate", "", "a", "b"), nil, `unknown metric "bounce_rate"`},
		{"unknown policy", abTest(20, "open_rate", "send_best", "a", "b"), nil, `unknown inconclusive policy "send_best"`},
		{"one variant", abTest(20, "open_rate", "", "a"), nil, "at least two variants"},
		{"duplicate variant", abTest(20, "open_rate", "", "a", "a"), nil, `"a" is named twice`},
		{"unknown variant", ok, []Count{{Variant: "z", Sent: 10}}, `variant "z", which the test does not have (it has "a", "b")`},
		{"counted twice", ok, []Count{{Variant: "a", Sent: 10}, {Variant: "a", Sent: 10}}, `"a" is counted twice`},
		{"successes above sends", ok, []Count{{Variant: "a", Sent: 10, Successes: 11}}, "11 successes but only 10 sends"},
		{"negative sends", ok, []Count{{Variant: "b", Sent: -1}}, "-1 sends"},
		{"negative successes", ok, []Count{{Variant: "b", Sent: 5, Successes: -2}}, "-2 successes"},
		{"revenue successes above sends", abTest(20, "revenue", "", "a", "b"),
			[]Count{{Variant: "a", Sent: 1, Successes: 2, Revenue: []float64{1}}}, "2 successes but only 1 sends"},
		{"revenue length", abTest(20, "revenue", "", "a", "b"),
			[]Count{{Variant: "a", Sent: 3, Revenue: []float64{1, 2}}}, "2 revenue values for 3 sends"},
		{"revenue NaN", abTest(20, "revenue", "", "a", "b"),
			[]Count{{Variant: "b", Sent: 2, Revenue: []float64{1, math.NaN()}}}, "revenue value 1 = NaN"},
		{"revenue Inf", abTest(20, "revenue", "", "a", "b"),
			[]Count{{Variant: "b", Sent: 1, Revenue: []float64{math.Inf(-1)}}}, "revenue value 0 = -Inf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.test, tt.counts)
			if err == nil {
				t.Fatalf("Decide = %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if got.Decision != "" || got.Winner != "" {
				t.Errorf("Decide returned a verdict with its error: %+v", got)
			}
		})
	}
}

// Every small combination of counts, including zeros and extremes, gives a
// consistent, JSON-encodable verdict and never panics.
func TestDecideNeverPanics(t *testing.T) {
	sizes := []int64{0, 1, 2, 29, 30, 31, 1000}
	for _, metric := range []string{"open_rate", "revenue"} {
		for _, policy := range []string{"", "send_first", "send_all", "stop"} {
			test := abTest(20, metric, policy, "a", "b")
			for _, na := range sizes {
				for _, nb := range sizes {
					for _, frac := range []float64{0, 0.5, 1} {
						counts := []Count{
							{Variant: "a", Sent: na, Successes: int64(frac * float64(na)), Revenue: revenueSample(int(na), 3, 20)},
							{Variant: "b", Sent: nb, Successes: nb / 2, Revenue: revenueSample(int(nb), 2, 20)},
						}
						v, err := Decide(test, counts)
						if err != nil {
							t.Fatalf("%s/%s %d,%d: %v", metric, policy, na, nb, err)
						}
						if math.IsNaN(v.PValue) || v.PValue < 0 || v.PValue > 1 {
							t.Fatalf("%s/%s %d,%d: PValue %v", metric, policy, na, nb, v.PValue)
						}
						if v.Reason == "" || v.Decision == "" {
							t.Fatalf("%s/%s %d,%d: empty reason or decision: %+v", metric, policy, na, nb, v)
						}
						if v.Significant != (v.Decision == "winner") || (v.Winner == "") != (v.SendAll || v.Stop) {
							t.Fatalf("%s/%s %d,%d: inconsistent verdict %+v", metric, policy, na, nb, v)
						}
						if (na < MinSends || nb < MinSends) && v.Significant {
							t.Fatalf("%s/%s %d,%d: a winner with fewer than %d sends", metric, policy, na, nb, MinSends)
						}
						checkRates(t, test, counts, v)
					}
				}
			}
		}
	}
}

func TestFormatP(t *testing.T) {
	for _, tt := range []struct {
		p    float64
		want string
	}{
		{0.004, "p=0.004 < 0.05"},
		{0.0074196, "p=0.0074 < 0.05"},
		{0.0004, "p<0.001"},
		{0.62, "p=0.62 >= 0.05"},
		// Rounding must not carry p across Alpha.
		{0.04996, "p=0.04996 < 0.05"},
		{0.0501, "p=0.05 >= 0.05"},
		{0.05, "p=0.05 >= 0.05"},
		{1, "p=1 >= 0.05"},
	} {
		if got := formatP(tt.p); got != tt.want {
			t.Errorf("formatP(%v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// Revenue given as Postgres summarizes it (count, mean, sample variance)
// decides exactly as the per-contact values it summarizes; a summary over
// the wrong number of contacts, or not finite, is refused.
func TestRevenueMomentsDecideAsTheValues(t *testing.T) {
	test := &plan.ABTest{Metric: "revenue", Variants: []plan.Variant{{Name: "a"}, {Name: "b"}}, Inconclusive: "send_first"}
	for _, tc := range []struct{ a, b []float64 }{
		{revenueSample(2000, 10, 50), revenueSample(2000, 10, 80)},
		{revenueSample(500, 10, 50), revenueSample(500, 10, 51)},
		{make([]float64, 100), append(make([]float64, 99), 500)},
	} {
		byValues, err := Decide(test, []Count{{Variant: "a", Sent: int64(len(tc.a)), Revenue: tc.a}, {Variant: "b", Sent: int64(len(tc.b)), Revenue: tc.b}})
		if err != nil {
			t.Fatal(err)
		}
		ma, mb := MomentsOf(tc.a), MomentsOf(tc.b)
		byMoments, err := Decide(test, []Count{{Variant: "a", Sent: ma.N, RevenueMoments: &ma}, {Variant: "b", Sent: mb.N, RevenueMoments: &mb}})
		if err != nil {
			t.Fatal(err)
		}
		if byValues.Winner != byMoments.Winner || byValues.Decision != byMoments.Decision || byValues.PValue != byMoments.PValue ||
			byValues.Rates["b"] != byMoments.Rates["b"] {
			t.Errorf("by values %+v, by moments %+v: want the same verdict", byValues, byMoments)
		}
	}
	bad := []Moments{{N: 9, Mean: 1}, {N: 10, Mean: math.NaN()}, {N: 10, Mean: 1, Var: -1}}
	for _, m := range bad {
		if _, err := Decide(test, []Count{{Variant: "a", Sent: 10, RevenueMoments: &m}}); err == nil {
			t.Errorf("moments %+v for 10 sends accepted", m)
		}
	}
}
