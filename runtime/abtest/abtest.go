package abtest

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

const (
	// Alpha is the significance level: a winner needs p < Alpha.
	Alpha = 0.05
	// MinSends is the fewest sends each variant needs before a winner may be
	// named. Below it the normal approximation behind the z-test is poor and an
	// early lucky streak decides the whole remainder.
	MinSends = 30
)

// Metrics, and the verb a Reason uses for each.
var metricVerbs = map[string]string{
	"open_rate":   "opened",
	"click_rate":  "clicked",
	"reply_rate":  "replied",
	"conversions": "converted",
	"revenue":     "earned",
}

const metricRevenue = "revenue"

// Inconclusive policies.
const (
	policySendFirst = "send_first"
	policySendAll   = "send_all"
	policyStop      = "stop"
)

// Verdict.Decision values. The engine stores them and reads them back to
// place the remainder of the audience.
const (
	DecisionWinner    = "winner"
	DecisionSendFirst = "inconclusive: " + policySendFirst
	DecisionSendAll   = "inconclusive: " + policySendAll
	DecisionStop      = "inconclusive: " + policyStop
)

// Names of the tests, as Verdict.Test reports them.
const (
	testZ     = "two-proportion z-test"
	testWelch = "Welch's t-test"
)

// z975 is the standard normal quantile at 0.975, for two-sided 95% intervals.
const z975 = 1.959963984540054

// Assign places a contact deterministically: the same (kind, object, step,
// contactKey) always gets the same answer on any machine, replica or restart.
// inTest is true for about TestPercent% of contacts; then variant is one of
// t.Variants' names, split evenly among test contacts. For the rest (the
// remainder) inTest is false and variant is "".
//
// A TestPercent of 0 or less puts nobody in the test, 100 or more everybody. A
// nil test or one without variants puts nobody in the test.
func Assign(kind, object, step, contactKey string, t *plan.ABTest) (variant string, inTest bool) {
	if t == nil || len(t.Variants) == 0 || t.TestPercent <= 0 {
		return "", false
	}
	sum := placement(kind, object, step, contactKey)
	if binary.BigEndian.Uint64(sum[0:8])%100 >= uint64(t.TestPercent) {
		return "", false
	}
	return pick(sum, t.Variants), true
}

// SplitVariant is the variant a contact receives when the whole audience is split
// among all variants, as the remainder is after an inconclusive send_all verdict.
// For a contact in the test it is the variant Assign gives. It is "" only for a
// nil test or one without variants.
func SplitVariant(kind, object, step, contactKey string, t *plan.ABTest) string {
	if t == nil || len(t.Variants) == 0 {
		return ""
	}
	return pick(placement(kind, object, step, contactKey), t.Variants)
}

// placement hashes the fields that fix a contact's place. The 0 byte keeps
// ("ab", "c") and ("a", "bc") apart; plan names and contact keys do not contain it.
func placement(kind, object, step, contactKey string) [sha256.Size]byte {
	h := sha256.New()
	for i, s := range [...]string{kind, object, step, contactKey} {
		if i > 0 {
			h.Write([]byte{0})
		}
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// pick chooses a variant from the digest's second 8 bytes, independent of the
// first 8 that chose test or remainder.
func pick(sum [sha256.Size]byte, variants []plan.Variant) string {
	return variants[binary.BigEndian.Uint64(sum[8:16])%uint64(len(variants))].Name
}

// Count is one variant's observed figures.
type Count struct {
	Variant string
	// Sent is the number of messages delivered to test contacts of this variant,
	// the denominator of rates.
	Sent int64
	// Successes counts the contacts who opened, clicked, replied or converted,
	// by metric. The revenue metric does not compare it, but it must still
	// lie within 0..Sent.
	Successes int64
	// Revenue holds per-contact revenue for the revenue metric: one value per
	// sent contact, 0 for none, so len(Revenue) must equal Sent. Not read for
	// other metrics, where it may be nil.
	Revenue []float64
	// RevenueMoments, when Revenue is nil, summarizes the same per-contact
	// values (their count, mean and sample variance), as Postgres computes
	// them without sending every value over: its N must equal Sent.
	RevenueMoments *Moments
}

// Moments summarizes a sample: its size, mean and sample variance (n-1
// denominator; 0 for fewer than two values).
type Moments struct {
	N         int64
	Mean, Var float64
}

// MomentsOf summarizes xs.
func MomentsOf(xs []float64) Moments {
	m, v := meanVariance(xs)
	if len(xs) == 0 {
		m = 0
	}
	return Moments{N: int64(len(xs)), Mean: m, Var: v}
}

// revenueMoments is c's revenue summarized, from whichever form it came in.
func (c Count) revenueMoments() Moments {
	if c.Revenue == nil && c.RevenueMoments != nil {
		return *c.RevenueMoments
	}
	return MomentsOf(c.Revenue)
}

// Verdict is the outcome of deciding a test. All its numbers are finite, so it
// encodes as JSON.
type Verdict struct {
	// Winner is the variant the remainder receives; "" when Stop or SendAll.
	Winner      string
	Significant bool
	// Test is "two-proportion z-test" or "Welch's t-test".
	Test string
	// PValue is two-sided, of the best variant against the runner-up; 1 when
	// they cannot be compared (a variant without sends, or with fewer than two
	// revenue values).
	PValue float64
	// Rates holds, per variant of the test, the metric's value with a 95%
	// interval.
	Rates map[string]Interval
	// Decision is "winner", "inconclusive: send_first", "inconclusive:
	// send_all" or "inconclusive: stop".
	Decision string
	// SendAll: inconclusive with send_all; the remainder keeps being split
	// among all variants.
	SendAll bool
	// Stop: inconclusive with stop; the remainder receives nothing.
	Stop bool
	// Reason is one human sentence saying why.
	Reason string
}

// Interval is a metric's value with a 95% interval around it. A rate is a
// fraction in [0, 1] with a Wilson score interval; a variant without sends has
// Value 0 and the whole [0, 1] as its interval. Revenue is a mean with a Student
// t interval; with no values it is all zero, and with one value Low and High
// equal Value, since one value says nothing about spread.
type Interval struct{ Value, Low, High float64 }

// variantStat is one variant's figures ready for comparison.
type variantStat struct {
	name  string
	count Count
	n     int64 // sample size: sends
	value float64
}

// Decide picks the winner of a test at the Alpha level; see the package
// documentation for the method. It returns an error, and no verdict, when the
// test is malformed or the counts cannot be right: an unknown metric or policy,
// fewer than two variants, counts for a variant the test does not have or given
// twice, negative counts, more successes than sends, or (for revenue) a number
// of values other than Sent or a value that is NaN or infinite. A variant with no
// count has no sends.
func Decide(t *plan.ABTest, counts []Count) (Verdict, error) {
	if t == nil {
		return Verdict{}, errors.New("abtest: no A/B test to decide")
	}
	verb, ok := metricVerbs[t.Metric]
	if !ok {
		return Verdict{}, fmt.Errorf("abtest: unknown metric %q: use open_rate, click_rate, reply_rate, conversions or revenue", t.Metric)
	}
	policy := t.Inconclusive
	switch policy {
	case "":
		policy = policySendFirst
	case policySendFirst, policySendAll, policyStop:
	default:
		return Verdict{}, fmt.Errorf("abtest: unknown inconclusive policy %q: use send_first, send_all or stop", t.Inconclusive)
	}
	if len(t.Variants) < 2 {
		return Verdict{}, fmt.Errorf("abtest: a test needs at least two variants, it has %d", len(t.Variants))
	}
	revenue := t.Metric == metricRevenue

	stats := make([]variantStat, len(t.Variants))
	index := make(map[string]int, len(t.Variants))
	for i, v := range t.Variants {
		if _, dup := index[v.Name]; dup {
			return Verdict{}, fmt.Errorf("abtest: variant %q is named twice", v.Name)
		}
		index[v.Name] = i
		stats[i] = variantStat{name: v.Name, count: Count{Variant: v.Name}}
	}
	given := make([]bool, len(t.Variants))
	for _, c := range counts {
		i, ok := index[c.Variant]
		if !ok {
			return Verdict{}, fmt.Errorf("abtest: count for variant %q, which the test does not have (it has %s)", c.Variant, variantNames(t.Variants))
		}
		if given[i] {
			return Verdict{}, fmt.Errorf("abtest: variant %q is counted twice", c.Variant)
		}
		given[i] = true
		if err := checkCount(c, revenue); err != nil {
			return Verdict{}, err
		}
		stats[i].count = c
	}

	v := Verdict{Rates: make(map[string]Interval, len(stats)), PValue: 1}
	for i := range stats {
		s := &stats[i]
		s.n = s.count.Sent
		var iv Interval
		if revenue {
			iv = momentsInterval(s.count.revenueMoments())
		} else {
			iv = wilson(s.count.Successes, s.count.Sent)
		}
		s.value = iv.Value
		v.Rates[s.name] = iv
	}

	// Best first; equal values keep the plan's order, so a tie is stable.
	ranked := slices.Clone(stats)
	slices.SortStableFunc(ranked, func(a, b variantStat) int {
		switch {
		case a.value > b.value:
			return -1
		case a.value < b.value:
			return 1
		}
		return 0
	})
	best, second := ranked[0], ranked[1]

	var p float64
	if revenue {
		v.Test = testWelch
		_, _, p = welchMoments(best.count.revenueMoments(), second.count.revenueMoments())
	} else {
		v.Test = testZ
		_, p = ZTest(best.count.Successes, best.n, second.count.Successes, second.n)
	}
	if !math.IsNaN(p) {
		v.PValue = p
	}

	var few []string
	for _, s := range stats {
		if s.n < MinSends {
			few = append(few, fmt.Sprintf("%s had %d", s.name, s.n))
		}
	}
	comparison := fmt.Sprintf("%s %s %s vs %s %s (%s)",
		best.name, verb, formatValue(best.value, revenue),
		second.name, formatValue(second.value, revenue), formatP(v.PValue))

	var why string
	switch {
	case len(few) > 0:
		why = fmt.Sprintf("too few sends to decide: %s, and each variant needs at least %d", joinAnd(few), MinSends)
	case best.value == second.value:
		why = fmt.Sprintf("%s and %s tie at %s", best.name, second.name, formatValue(best.value, revenue))
	case v.PValue >= Alpha:
		why = comparison + ", not a significant difference"
	default:
		v.Winner = best.name
		v.Significant = true
		v.Decision = DecisionWinner
		v.Reason = comparison
		return v, nil
	}

	v.Decision = "inconclusive: " + policy
	switch policy {
	case policySendFirst:
		v.Winner = t.Variants[0].Name
		v.Reason = fmt.Sprintf("%s; the remainder gets the first variant, %s", why, v.Winner)
	case policySendAll:
		v.SendAll = true
		v.Reason = why + "; the remainder keeps being split among all variants"
	case policyStop:
		v.Stop = true
		v.Reason = why + "; the remainder gets nothing"
	}
	return v, nil
}

func checkCount(c Count, revenue bool) error {
	switch {
	case c.Sent < 0:
		return fmt.Errorf("abtest: variant %q has %d sends, fewer than none", c.Variant, c.Sent)
	case c.Successes < 0:
		return fmt.Errorf("abtest: variant %q has %d successes, fewer than none", c.Variant, c.Successes)
	case c.Successes > c.Sent:
		return fmt.Errorf("abtest: variant %q has %d successes but only %d sends", c.Variant, c.Successes, c.Sent)
	case !revenue:
		return nil
	case c.Revenue == nil && c.RevenueMoments != nil:
		m := *c.RevenueMoments
		if m.N != c.Sent {
			return fmt.Errorf("abtest: variant %q has revenue over %d contacts for %d sends: give one per sent contact, 0 for none", c.Variant, m.N, c.Sent)
		}
		if math.IsNaN(m.Mean) || math.IsInf(m.Mean, 0) || math.IsNaN(m.Var) || math.IsInf(m.Var, 0) || m.Var < 0 {
			return fmt.Errorf("abtest: variant %q has revenue mean %v and variance %v, want finite numbers (the variance not negative)", c.Variant, m.Mean, m.Var)
		}
		return nil
	case int64(len(c.Revenue)) != c.Sent:
		return fmt.Errorf("abtest: variant %q has %d revenue values for %d sends: give one per sent contact, 0 for none", c.Variant, len(c.Revenue), c.Sent)
	}
	for i, r := range c.Revenue {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return fmt.Errorf("abtest: variant %q has revenue value %d = %v, want a finite number", c.Variant, i, r)
		}
	}
	return nil
}

// ZTest compares two proportions, s1 of n1 and s2 of n2, by the two-proportion
// z-test with a pooled standard error. z is positive when the first rate is the
// higher; p is two-sided. When both rates are 0, or both 1, there is no evidence
// of a difference: z = 0, p = 1. Without a sample on either side, or with
// counts that cannot be (negative, or s > n), both are NaN.
func ZTest(s1, n1, s2, n2 int64) (z, p float64) {
	if n1 <= 0 || n2 <= 0 || s1 < 0 || s2 < 0 || s1 > n1 || s2 > n2 {
		return math.NaN(), math.NaN()
	}
	f1, f2 := float64(n1), float64(n2)
	p1, p2 := float64(s1)/f1, float64(s2)/f2
	pooled := (float64(s1) + float64(s2)) / (f1 + f2)
	se := math.Sqrt(pooled * (1 - pooled) * (1/f1 + 1/f2))
	if se == 0 {
		return 0, 1
	}
	z = (p1 - p2) / se
	return z, normalTwoSided(z)
}

// WelchT compares the means of two samples by Welch's t-test, which does not
// assume equal variances. t is positive when a's mean is the higher; df is the
// Welch–Satterthwaite degrees of freedom; p is two-sided. When both samples have
// no spread, equal means give t = 0, p = 1 and different means t = ±Inf, p = 0.
// With fewer than two values on either side all three are NaN.
func WelchT(a, b []float64) (t, df, p float64) {
	return welchMoments(MomentsOf(a), MomentsOf(b))
}

// welchMoments is WelchT on two samples' summaries.
func welchMoments(a, b Moments) (t, df, p float64) {
	if a.N < 2 || b.N < 2 {
		return math.NaN(), math.NaN(), math.NaN()
	}
	na, nb := float64(a.N), float64(b.N)
	ma, va := a.Mean, a.Var
	mb, vb := b.Mean, b.Var
	sa, sb := va/na, vb/nb
	se2 := sa + sb
	if se2 == 0 {
		df = na + nb - 2
		if ma == mb {
			return 0, df, 1
		}
		return math.Copysign(math.Inf(1), ma-mb), df, 0
	}
	t = (ma - mb) / math.Sqrt(se2)
	df = se2 * se2 / (sa*sa/(na-1) + sb*sb/(nb-1))
	return t, df, studentTwoSided(t, df)
}

// meanVariance returns the mean and the sample variance (n-1 denominator) in two
// passes, which loses less precision than summing squares.
func meanVariance(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, 0
	}
	for _, x := range xs {
		d := x - mean
		variance += d * d
	}
	return mean, variance / float64(len(xs)-1)
}

// wilson is the rate s/n with its 95% Wilson score interval.
func wilson(s, n int64) Interval {
	if n <= 0 {
		return Interval{Value: 0, Low: 0, High: 1}
	}
	f := float64(n)
	p := float64(s) / f
	z2 := z975 * z975
	denom := 1 + z2/f
	center := (p + z2/(2*f)) / denom
	half := z975 / denom * math.Sqrt(p*(1-p)/f+z2/(4*f*f))
	// The bounds reach p itself at 0 and 1; the clamp keeps rounding from
	// leaving p outside.
	return Interval{Value: p, Low: max(0, min(p, center-half)), High: min(1, max(p, center+half))}
}

// momentsInterval is a sample's mean with its 95% Student t interval.
func momentsInterval(m Moments) Interval {
	if m.N == 0 {
		return Interval{}
	}
	if m.N < 2 || m.Var == 0 {
		return Interval{Value: m.Mean, Low: m.Mean, High: m.Mean}
	}
	half := studentQuantile975(float64(m.N-1)) * math.Sqrt(m.Var/float64(m.N))
	return Interval{Value: m.Mean, Low: m.Mean - half, High: m.Mean + half}
}

// normalTwoSided is P(|Z| >= |z|) for a standard normal Z.
func normalTwoSided(z float64) float64 {
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// studentTwoSided is P(|T| >= |t|) for Student's t with df degrees of freedom.
// It uses the identity P(|T| >= |t|) = I_x(df/2, 1/2) with x = df/(df+t²),
// where I is the regularized incomplete beta function.
func studentTwoSided(t, df float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case math.IsInf(t, 0):
		return 0
	case math.IsInf(df, 1):
		return normalTwoSided(t)
	}
	return regularizedIncompleteBeta(df/2, 0.5, df/(df+t*t))
}

// studentQuantile975 is the t with P(T <= t) = 0.975 for df degrees of freedom,
// found by bisection on studentTwoSided, which falls as t grows.
func studentQuantile975(df float64) float64 {
	lo, hi := 0.0, 2.0
	for studentTwoSided(hi, df) > 0.05 {
		lo, hi = hi, hi*2
	}
	for range 100 {
		mid := (lo + hi) / 2
		if studentTwoSided(mid, df) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
		if hi-lo <= 1e-12*hi {
			break
		}
	}
	return (lo + hi) / 2
}

// regularizedIncompleteBeta is I_x(a, b) for a, b > 0 and x in [0, 1].
//
// I_x(a, b) = x^a (1-x)^b / (a B(a, b)) · K, where K is a continued fraction
// that converges quickly for x below (a+1)/(a+b+2). Above that point the
// symmetry I_x(a, b) = 1 - I_{1-x}(b, a) moves x back below it.
func regularizedIncompleteBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	front := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - logBeta(a, b))
	if x < (a+1)/(a+b+2) {
		return front * betaContinuedFraction(a, b, x) / a
	}
	return 1 - front*betaContinuedFraction(b, a, 1-x)/b
}

// logBeta is ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a+b) for a, b > 0.
//
// Summing math.Lgamma values loses digits for large arguments: at df = 10⁶,
// ln Γ(500000) is about 6·10⁶, and the difference that matters is near 1. So for
// arguments of 10 and more each ln Γ is split into Stirling's formula, whose
// large parts cancel algebraically, plus its small remainder stirlingRemainder.
func logBeta(a, b float64) float64 {
	p, q := min(a, b), max(a, b)
	if q < 10 {
		lgp, _ := math.Lgamma(p)
		lgq, _ := math.Lgamma(q)
		lgpq, _ := math.Lgamma(p + q)
		return lgp + lgq - lgpq
	}
	// ln(q/(p+q)), accurate when p is small beside q.
	logQShare := math.Log1p(-p / (p + q))
	if p < 10 {
		lgp, _ := math.Lgamma(p)
		return lgp + stirlingRemainder(q) - stirlingRemainder(p+q) +
			p - p*math.Log(p+q) + (q-0.5)*logQShare
	}
	return 0.5*math.Log(2*math.Pi) - 0.5*math.Log(q) +
		stirlingRemainder(p) + stirlingRemainder(q) - stirlingRemainder(p+q) +
		(p-0.5)*math.Log(p/(p+q)) + q*logQShare
}

// stirlingRemainder is ln Γ(x) - ((x-½) ln x - x + ½ ln 2π) for x >= 10, by
// the first terms of its asymptotic series; the first term left out is below
// 2·10⁻¹⁴ at x = 10.
func stirlingRemainder(x float64) float64 {
	x2 := x * x
	return (1.0/12 - (1.0/360-(1.0/1260-(1.0/1680-1.0/(1188*x2))/x2)/x2)/x2) / x
}

// betaContinuedFraction evaluates K = 1/(1+ d1/(1+ d2/(1+ ...))) with
//
//	d(2m+1) = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1))
//	d(2m)   = m(b-m) x / ((a+2m-1)(a+2m))
//
// from the top down by the modified Lentz method: it carries the ratios C and D
// of successive numerators and denominators instead of the terms themselves, so
// nothing overflows, and nudges a zero denominator to a tiny number. It needs
// about sqrt(max(a, b)) steps, hence the generous cap for large df.
func betaContinuedFraction(a, b, x float64) float64 {
	const (
		tiny     = 1e-300
		epsilon  = 1e-15
		maxSteps = 1 << 17
	)
	step := func(d, c, coeff float64) (float64, float64) {
		d = 1 + coeff*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + coeff/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		return 1 / d, c
	}
	// The first term, d1 = -(a+b)x/(a+1), starts D; C starts at 1.
	d := 1 - (a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	c := 1.0
	k := d
	for m := 1.0; m <= maxSteps; m++ {
		d, c = step(d, c, m*(b-m)*x/((a+2*m-1)*(a+2*m)))
		k *= d * c
		d, c = step(d, c, -(a+m)*(a+b+m)*x/((a+2*m)*(a+2*m+1)))
		delta := d * c
		k *= delta
		if math.Abs(delta-1) < epsilon {
			break
		}
	}
	return k
}

func variantNames(vs []plan.Variant) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = strconv.Quote(v.Name)
	}
	return strings.Join(names, ", ")
}

func joinAnd(parts []string) string {
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

func formatValue(v float64, revenue bool) string {
	if revenue {
		return strconv.FormatFloat(v, 'f', 2, 64) + " per contact"
	}
	return strconv.FormatFloat(100*v, 'f', 1, 64) + "%"
}

// formatP writes "p=0.004 < 0.05", "p=0.31 >= 0.05" or "p<0.001", with as few digits as keep
// the rounded figure on the same side of Alpha as the exact one.
func formatP(p float64) string {
	if p < 0.001 {
		return "p<0.001"
	}
	s := strconv.FormatFloat(p, 'g', 2, 64)
	for prec := 3; prec <= 6; prec++ {
		r, _ := strconv.ParseFloat(s, 64)
		if (r < Alpha) == (p < Alpha) {
			break
		}
		s = strconv.FormatFloat(p, 'g', prec, 64)
	}
	if p < Alpha {
		return "p=" + s + " < 0.05"
	}
	return "p=" + s + " >= 0.05"
}
