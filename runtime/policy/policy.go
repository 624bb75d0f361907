package policy

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// DefaultName is the policy that applies to an object that names none.
const DefaultName = "default"

// Bypass rule names. Quiet hours and the frequency cap are applied here
// (Hold), the quota and the rate by the caller (Budget), and the two
// suppression reasons a class other than marketing may bypass by the send
// path's claim (BypassesSuppression).
const (
	bypassQuietHours   = "quiet_hours"
	bypassFrequencyCap = "frequency_cap"
	bypassDailyQuota   = "daily_quota"
	bypassRate         = "rate_per_minute"
	bypassUnsubscribed = "unsubscribed"
	bypassBlacklisted  = "blacklisted"
)

// Kind says which rule held a message. It is a small fixed set, fit for a metrics
// label; the zero value means the message was not held.
type Kind string

const (
	KindQuietHours   Kind = "quiet_hours"
	KindFrequencyCap Kind = "frequency_cap"
)

// capRetry is how long a message held by the frequency cap waits before the caller
// counts again (or Per, when that is shorter): Hold does not know when the oldest
// counted send leaves the window, and an hour keeps re-counting cheap while
// delaying a message at most an hour past the moment it could go.
const capRetry = time.Hour

// Rules is a policy compiled for fast checks, for one mail class. The zero value
// and a nil *Rules hold nothing. A Rules is immutable and safe for concurrent use.
type Rules struct {
	quiet bool
	// start and end bound quiet hours, in minutes after local midnight.
	start, end      int
	endHour, endMin int
	quietPrefix     string // "quiet hours 21:00–08:00 in "
	quietSuffix     string // " until 08:00 local"
	quietReasonUTC  string // the whole reason when the zone is unknown

	capOn     bool
	capMax    int
	capPer    time.Duration
	capRetry  time.Duration
	capReason string

	// quota and rate bound a sender's messages per UTC day and per minute,
	// across every replica (0: none).
	quota, rate int

	// optIn: the policy is opt_in and the class is marketing, so a message
	// goes only to a contact whose consent holds; policy names it in reasons.
	optIn  bool
	policy string

	// bypassSuppressed are the suppression reasons (unsubscribed,
	// blacklisted) that do not stop this class; never set for marketing.
	bypassSuppressed []string
}

// OptIn reports whether messages under these rules need the contact's
// consent (an opt_in policy, marketing mail), and the policy's name.
func (r *Rules) OptIn() (bool, string) {
	if r == nil {
		return false, ""
	}
	return r.optIn, r.policy
}

// Compile resolves the policy an object uses: the named policy, or the plan's
// policy named "default" when name is "", or no rules at all (nothing held) when
// neither exists. A name the plan does not declare is an error. class is the mail
// class of the message (plan.ClassMarketing, ClassTransactional, ClassInternal; ""
// means marketing; any other is an error); the rules the policy lets that class
// bypass are off. Errors name the policy and the field: an HH:MM that is not a
// 24-hour time of day, a frequency_cap per that is not a positive duration, a max
// below 1. Compile once per (policy, class) and share the result.
func Compile(p *plan.Plan, name, class string) (*Rules, error) {
	switch class {
	case "":
		class = plan.ClassMarketing
	case plan.ClassMarketing, plan.ClassTransactional, plan.ClassInternal:
	default:
		return nil, fmt.Errorf("unknown mail class %q: use %s, %s or %s",
			class, plan.ClassMarketing, plan.ClassTransactional, plan.ClassInternal)
	}
	pol := find(p, name)
	if pol == nil {
		if name != "" {
			return nil, fmt.Errorf("policy %q is not in the plan (it declares %s)", name, declared(p))
		}
		return &Rules{}, nil
	}
	// Every rule is checked, bypassed or not, so a broken policy fails for the
	// first class that uses it rather than for the first marketing message.
	bypass := pol.Bypass[class]
	r := &Rules{}
	if q := pol.QuietHours; q != nil {
		start, err := parseClock(q.Start)
		if err != nil {
			return nil, fmt.Errorf("policy %q: quiet_hours start: %w", pol.Name, err)
		}
		end, err := parseClock(q.End)
		if err != nil {
			return nil, fmt.Errorf("policy %q: quiet_hours end: %w", pol.Name, err)
		}
		if start != end && !slices.Contains(bypass, bypassQuietHours) {
			r.quiet = true
			r.start, r.end = start, end
			r.endHour, r.endMin = end/60, end%60
			r.quietPrefix = "quiet hours " + q.Start + "–" + q.End + " in "
			r.quietSuffix = " until " + q.End + " local"
			r.quietReasonUTC = r.quietPrefix + "UTC until " + q.End + " UTC (time zone unknown, UTC used)"
		}
	}
	if f := pol.FrequencyCap; f != nil {
		per, err := plan.ParseDuration(f.Per)
		if err != nil {
			return nil, fmt.Errorf("policy %q: frequency_cap per: %w", pol.Name, err)
		}
		if per <= 0 {
			return nil, fmt.Errorf("policy %q: frequency_cap per %q must be longer than 0", pol.Name, f.Per)
		}
		if f.Max < 1 {
			return nil, fmt.Errorf("policy %q: frequency_cap max is %d: it must be at least 1 (remove the block for no cap)", pol.Name, f.Max)
		}
		if !slices.Contains(bypass, bypassFrequencyCap) {
			r.capOn = true
			r.capMax, r.capPer = f.Max, per
			r.capRetry = min(capRetry, per)
			r.capReason = fmt.Sprintf("frequency cap %d per %s reached", f.Max, f.Per)
		}
	}
	if pol.DailyQuota < 0 || pol.RatePerMinute < 0 {
		return nil, fmt.Errorf("policy %q: daily_quota and rate_per_minute must be 0 (none) or more", pol.Name)
	}
	if !slices.Contains(bypass, bypassDailyQuota) {
		r.quota = pol.DailyQuota
	}
	if !slices.Contains(bypass, bypassRate) {
		r.rate = pol.RatePerMinute
	}
	if class != plan.ClassMarketing {
		// Marketing mail never goes to a suppressed address: the schema
		// refuses a marketing bypass of these, and a plan that slipped one
		// through is not obeyed.
		for _, rule := range []string{bypassUnsubscribed, bypassBlacklisted} {
			if slices.Contains(bypass, rule) {
				r.bypassSuppressed = append(r.bypassSuppressed, rule)
			}
		}
	}
	switch pol.Consent {
	case "", plan.ConsentOptOut:
	case plan.ConsentOptIn:
		// Consent is never bypassed: only marketing mail needs it.
		r.optIn, r.policy = class == plan.ClassMarketing, pol.Name
	default:
		return nil, fmt.Errorf("policy %q: consent %q is neither %s nor %s", pol.Name, pol.Consent, plan.ConsentOptIn, plan.ConsentOptOut)
	}
	return r, nil
}

// BypassesSuppression reports whether mail under these rules goes to an
// address suppressed for reason: only an unsubscribe or a blacklisting, and
// only for a class whose policy bypasses it (a transactional receipt to
// someone who unsubscribed from the newsletter). A hard bounce, a complaint,
// a manual suppression and a forgotten person are never bypassed.
func (r *Rules) BypassesSuppression(reason string) bool {
	return r != nil && reason != "" && slices.Contains(r.bypassSuppressed, reason)
}

// Budget returns the sender's daily quota and rate per minute that apply to
// this class (0: none).
func (r *Rules) Budget() (daily, perMinute int) {
	if r == nil {
		return 0, 0
	}
	return r.quota, r.rate
}

// Budget kinds, for holds and metrics.
const (
	KindDailyQuota Kind = "daily_quota"
	KindRate       Kind = "rate_per_minute"
)

func find(p *plan.Plan, name string) *plan.Policy {
	if p == nil {
		return nil
	}
	if name == "" {
		name = DefaultName
	}
	for i := range p.Policies {
		if p.Policies[i].Name == name {
			return &p.Policies[i]
		}
	}
	return nil
}

func declared(p *plan.Plan) string {
	if p == nil || len(p.Policies) == 0 {
		return "none"
	}
	names := make([]string, len(p.Policies))
	for i, pol := range p.Policies {
		names[i] = fmt.Sprintf("%q", pol.Name)
	}
	return strings.Join(names, ", ")
}

// parseClock reads "HH:MM" on a 24-hour clock, as the schema's clock format
// writes it, into minutes after midnight.
func parseClock(s string) (int, error) {
	digit := func(c byte) bool { return c >= '0' && c <= '9' }
	if len(s) != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4]) {
		return 0, fmt.Errorf("%q is not a time of day: write HH:MM on a 24-hour clock, e.g. \"21:00\"", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, fmt.Errorf("%q is not a time of day: hours run 00–23 and minutes 00–59", s)
	}
	return h*60 + m, nil
}

// Hold says whether a message due now may go out now. held=false: send, and the
// other results are zero. held=true: do not send before until, which for quiet
// hours is the first instant the contact's clock is outside them (normally the
// next local end; see the package doc for DST), in the contact's zone; reason is
// a short text for logs and explain, e.g. "quiet hours 21:00–08:00 in Asia/Tokyo
// until 08:00 local", built only from the policy and the zone name, never from
// the contact; kind is the rule that held it, a bounded set for metrics labels.
//
// tz is the contact's IANA zone name. An empty, unknown or invalid name, or
// "Local" (the server's zone, not the contact's), is not an error: quiet hours
// are applied in UTC and the reason says "(time zone unknown, UTC used)".
//
// sentInWindow is how many marketing messages the contact's address already
// received within the frequency cap's window (see FrequencyWindow); -1 means not
// counted, and the cap then holds nothing.
//
// When both rules hold, kind is KindQuietHours, the reason names quiet hours
// first, and until is the later of the two. A frequency-cap until is a retry
// time, not a promise: now plus an hour (or Per, when shorter), after which the
// caller counts again.
func (r *Rules) Hold(now time.Time, tz string, sentInWindow int) (held bool, until time.Time, reason string, kind Kind) {
	if r == nil {
		return false, time.Time{}, "", ""
	}
	capped := r.capOn && sentInWindow >= r.capMax
	if r.quiet {
		loc, known := location(tz)
		if r.contains(now.In(loc)) {
			until = r.quietUntil(now, loc)
			if capped {
				if c := now.Add(r.capRetry); c.After(until) {
					until = c
				}
			}
			switch {
			case !known && capped:
				reason = r.quietReasonUTC + "; " + r.capReason
			case !known:
				reason = r.quietReasonUTC
			case capped:
				reason = r.quietPrefix + tz + r.quietSuffix + "; " + r.capReason
			default:
				reason = r.quietPrefix + tz + r.quietSuffix
			}
			return true, until, reason, KindQuietHours
		}
	}
	if capped {
		return true, now.Add(r.capRetry), r.capReason, KindFrequencyCap
	}
	return false, time.Time{}, "", ""
}

// FrequencyWindow returns the frequency cap's window and max, so the caller knows
// what to count; 0, 0 when there is no cap or the class bypasses it.
func (r *Rules) FrequencyWindow() (per time.Duration, max int) {
	if r == nil || !r.capOn {
		return 0, 0
	}
	return r.capPer, r.capMax
}

// contains reports whether the wall clock of local is within quiet hours.
// Start and end are whole minutes, so the minute of the day decides.
func (r *Rules) contains(local time.Time) bool {
	h, m, _ := local.Clock()
	mins := h*60 + m
	if r.start < r.end {
		return r.start <= mins && mins < r.end
	}
	return mins >= r.start || mins < r.end
}

// quietUntil returns the first instant after now at which the local clock is
// outside quiet hours. The clock only moves by ticking or by jumping at a zone
// transition, so that instant is the next reading of end or a transition that
// lands outside the window, whichever comes first. Usually it is the next end;
// a transition decides only in odd cases: a fall-back that takes the clock back
// before start (01:30–02:30 on a night that goes from 02:00 back to 01:00), or a
// gap that skips past end and start both (a zone that drops a whole day).
func (r *Rules) quietUntil(now time.Time, loc *time.Location) time.Time {
	t := now.In(loc)
	for range 8 {
		e := nextWallClock(t, r.endHour, r.endMin, loc)
		if _, next := t.ZoneBounds(); !next.IsZero() && next.Before(e) {
			if !r.contains(next) {
				return next
			}
			t = next
			continue
		}
		if !r.contains(e) {
			return e
		}
		t = e
	}
	return t
}

// nextWallClock returns the first instant after t at which the wall clock in loc
// reads hour:minute, or, where a DST gap skips that reading, the first instant after
// the gap.
func nextWallClock(t time.Time, hour, minute int, loc *time.Location) time.Time {
	y, mo, d := t.In(loc).Date()
	var last time.Time
	// The reading on the day after t's local day is always after t; the third
	// day only guards zones that skip a whole day.
	for day := range 3 {
		rs, n := readings(y, mo, d+day, hour, minute, loc)
		for _, c := range rs[:n] {
			if c.After(t) {
				return c
			}
			last = c
		}
	}
	return last
}

// readings returns, in order, the instants on a local day at which the wall clock
// reads hour:minute: usually one, two on a fall-back night when that reading is
// repeated, and, when a spring-forward gap skips it, the instant the gap ends.
// time.Date picks one of two ambiguous instants and normalises a skipped
// reading by an unspecified offset, so both cases are resolved here from the
// zone's transitions rather than from what time.Date happens to choose.
func readings(y int, mo time.Month, d, hour, minute int, loc *time.Location) (rs [2]time.Time, n int) {
	c := time.Date(y, mo, d, hour, minute, 0, 0, loc)
	want := time.Date(y, mo, d, hour, minute, 0, 0, time.UTC)
	if got := wall(c); !got.Equal(want) {
		// A gap: c is in the zone before it (reading earlier than wanted) or
		// after it (reading later); the gap ends where those zones meet.
		zoneStart, zoneEnd := c.ZoneBounds()
		if got.Before(want) && !zoneEnd.IsZero() {
			return [2]time.Time{zoneEnd}, 1
		}
		if got.After(want) && !zoneStart.IsZero() {
			return [2]time.Time{zoneStart}, 1
		}
		return [2]time.Time{c}, 1
	}
	_, off := c.Zone()
	zoneStart, zoneEnd := c.ZoneBounds()
	// The same reading in the previous zone, if the clock fell back into c's.
	if !zoneStart.IsZero() {
		_, prev := zoneStart.Add(-time.Nanosecond).Zone()
		if e := c.Add(-time.Duration(prev-off) * time.Second); prev > off && e.Before(zoneStart) && wall(e).Equal(want) {
			return [2]time.Time{e, c}, 2
		}
	}
	// The same reading in the next zone, if the clock falls back out of c's.
	if !zoneEnd.IsZero() {
		_, next := zoneEnd.Zone()
		if l := c.Add(time.Duration(off-next) * time.Second); next < off && !l.Before(zoneEnd) && wall(l).Equal(want) {
			return [2]time.Time{c, l}, 2
		}
	}
	return [2]time.Time{c}, 1
}

// wall is t's local wall-clock reading as a UTC time, so readings compare
// without zones.
func wall(t time.Time) time.Time {
	y, mo, d := t.Date()
	h, m, s := t.Clock()
	return time.Date(y, mo, d, h, m, s, t.Nanosecond(), time.UTC)
}

// zone is a cached time.LoadLocation result; known is false when the name did
// not load and UTC stands in.
type zone struct {
	loc   *time.Location
	known bool
}

var (
	zones sync.Map // zone name → *zone
	// unknownZones bounds how many names that failed to load are cached, since
	// they come from contact data and could be arbitrarily many; past the bound
	// such a name is looked up again each time (slow, still correct).
	unknownZones atomic.Int64
)

const maxUnknownZones = 4096

var utcUnknown = &zone{loc: time.UTC}

// location returns the zone named tz and whether it is known; UTC stands in for
// an empty, "Local" or unloadable name.
func location(tz string) (*time.Location, bool) {
	if tz == "" || tz == "Local" {
		return time.UTC, false
	}
	if z, ok := zones.Load(tz); ok {
		z := z.(*zone)
		return z.loc, z.known
	}
	z := utcUnknown
	if loc, err := time.LoadLocation(tz); err == nil {
		z = &zone{loc: loc, known: true}
	}
	if z.known || unknownZones.Add(1) <= maxUnknownZones {
		zones.Store(tz, z)
	}
	return z.loc, z.known
}
