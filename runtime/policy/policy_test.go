package policy_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // the zones below must load on hosts without zoneinfo

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/policy"
)

// seedPolicy mirrors campaigns/policy.hcl's rules that this package applies.
func seedPolicy() plan.Policy {
	return plan.Policy{
		Name:          "default",
		DailyQuota:    5000,
		RatePerMinute: 300,
		QuietHours:    &plan.QuietHours{Start: "21:00", End: "08:00"},
		FrequencyCap:  &plan.FrequencyCap{Max: 3, Per: "7d"},
		Suppress:      []string{"unsubscribed", "blacklisted", "hard_bounce", "complaint"},
		Bypass: map[string][]string{
			plan.ClassTransactional: {"quiet_hours", "frequency_cap", "unsubscribed"},
			plan.ClassInternal:      {"quiet_hours", "frequency_cap", "daily_quota"},
		},
	}
}

func planOf(pols ...plan.Policy) *plan.Plan { return &plan.Plan{Policies: pols} }

// quietOnly is a default policy with quiet hours from start to end and no cap.
func quietOnly(start, end string) *plan.Plan {
	return planOf(plan.Policy{Name: "default", QuietHours: &plan.QuietHours{Start: start, End: end}})
}

func compile(t testing.TB, p *plan.Plan, name, class string) *policy.Rules {
	t.Helper()
	r, err := policy.Compile(p, name, class)
	if err != nil {
		t.Fatalf("Compile(%q, %q): %v", name, class, err)
	}
	return r
}

// ts reads an RFC 3339 instant; the offsets written in the tables say which
// side of a DST change an instant is on, so no table entry is ambiguous.
func ts(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestQuietHours(t *testing.T) {
	const (
		tokyo = "Asia/Tokyo"
		ny    = "America/New_York"
	)
	// US DST 2026: clocks go 02:00 EST → 03:00 EDT on 8 March (07:00Z) and
	// 02:00 EDT → 01:00 EST on 1 November (06:00Z).
	tests := []struct {
		name       string
		start, end string
		tz         string
		now        string
		wantUntil  string // "" = not held
	}{
		{"tokyo night, same-day end", "21:00", "08:00", tokyo, "2026-03-10T02:14:00+09:00", "2026-03-10T08:00:00+09:00"},
		{"tokyo last second of quiet", "21:00", "08:00", tokyo, "2026-03-10T07:59:59+09:00", "2026-03-10T08:00:00+09:00"},
		{"tokyo end is outside", "21:00", "08:00", tokyo, "2026-03-10T08:00:00+09:00", ""},
		{"tokyo before start", "21:00", "08:00", tokyo, "2026-03-10T20:59:00+09:00", ""},
		{"tokyo start, next-day end", "21:00", "08:00", tokyo, "2026-03-10T21:00:00+09:00", "2026-03-11T08:00:00+09:00"},
		{"tokyo midnight", "21:00", "08:00", tokyo, "2026-03-11T00:00:00+09:00", "2026-03-11T08:00:00+09:00"},
		{"tokyo month end wraps", "21:00", "08:00", tokyo, "2026-03-31T23:30:00+09:00", "2026-04-01T08:00:00+09:00"},
		// The same instant as "tokyo night" is 17:14 in UTC: outside.
		{"zone decides, not UTC", "21:00", "08:00", "UTC", "2026-03-10T02:14:00+09:00", ""},

		{"lunch before", "12:00", "14:00", tokyo, "2026-03-10T11:59:00+09:00", ""},
		{"lunch start", "12:00", "14:00", tokyo, "2026-03-10T12:00:00+09:00", "2026-03-10T14:00:00+09:00"},
		{"lunch last minute", "12:00", "14:00", tokyo, "2026-03-10T13:59:59+09:00", "2026-03-10T14:00:00+09:00"},
		{"lunch end", "12:00", "14:00", tokyo, "2026-03-10T14:00:00+09:00", ""},
		{"lunch night", "12:00", "14:00", tokyo, "2026-03-10T03:00:00+09:00", ""},

		{"start == end at start", "21:00", "21:00", tokyo, "2026-03-10T21:00:00+09:00", ""},
		{"start == end at night", "21:00", "21:00", tokyo, "2026-03-10T03:00:00+09:00", ""},

		// Spring forward: 02:30 does not exist on 8 March; the first instant after
		// the gap is 03:00 EDT.
		{"spring: evening before", "21:00", "02:30", ny, "2026-03-07T22:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"spring: just before the gap", "21:00", "02:30", ny, "2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00"},
		{"spring: after the gap", "21:00", "02:30", ny, "2026-03-08T03:00:00-04:00", ""},
		{"spring: non-wrapping window", "00:00", "02:30", ny, "2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00"},
		{"spring: next night is normal", "21:00", "02:30", ny, "2026-03-08T23:00:00-04:00", "2026-03-09T02:30:00-04:00"},
		// Fall back: 01:00–01:59 happens twice; 02:30 once, in EST.
		{"fall: evening before", "21:00", "02:30", ny, "2026-10-31T22:00:00-04:00", "2026-11-01T02:30:00-05:00"},
		{"fall: first 01:30", "21:00", "02:30", ny, "2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00"},
		{"fall: second 01:30", "21:00", "02:30", ny, "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"},
		{"fall: last minute", "21:00", "02:30", ny, "2026-11-01T02:29:00-05:00", "2026-11-01T02:30:00-05:00"},
		{"fall: end", "21:00", "02:30", ny, "2026-11-01T02:30:00-05:00", ""},
		// An end inside the repeated hour: whichever pass the clock is on, it is
		// held until that pass reads the end, not until tomorrow.
		{"fall: ambiguous end, first pass", "00:00", "01:30", ny, "2026-11-01T01:10:00-04:00", "2026-11-01T01:30:00-04:00"},
		{"fall: ambiguous end, between", "00:00", "01:30", ny, "2026-11-01T01:40:00-04:00", ""},
		{"fall: ambiguous end, second pass", "00:00", "01:30", ny, "2026-11-01T01:10:00-05:00", "2026-11-01T01:30:00-05:00"},
		// Lord Howe falls back half an hour (02:00 +11 → 01:30 +10:30), where
		// time.Date picks the second of two readings; the first must still win.
		{"lord howe: ambiguous end, first pass", "01:34", "01:51", "Australia/Lord_Howe", "2026-04-05T01:45:26+11:00", "2026-04-05T01:51:00+11:00"},
		{"lord howe: ambiguous end, second pass", "01:34", "01:51", "Australia/Lord_Howe", "2026-04-05T01:45:26+10:30", "2026-04-05T01:51:00+10:30"},
		// The fall-back itself leaves a 01:30–02:30 window: at 02:00 EDT the clock
		// reads 01:00 EST, outside, so that is when the message may go.
		{"fall: transition leaves the window", "01:30", "02:30", ny, "2026-11-01T01:45:00-04:00", "2026-11-01T01:00:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := compile(t, quietOnly(tt.start, tt.end), "", "")
			now := ts(t, tt.now)
			held, until, reason, kind := r.Hold(now, tt.tz, -1)
			if tt.wantUntil == "" {
				if held {
					t.Fatalf("held until %s (%s), want sent", until, reason)
				}
				if !until.IsZero() || reason != "" || kind != "" {
					t.Errorf("not held but until=%v reason=%q kind=%q", until, reason, kind)
				}
				return
			}
			want := ts(t, tt.wantUntil)
			if !held {
				t.Fatalf("sent, want held until %s", want)
			}
			if !until.Equal(want) {
				t.Fatalf("until = %s, want %s", until, want)
			}
			if kind != policy.KindQuietHours {
				t.Errorf("kind = %q", kind)
			}
			wantReason := fmt.Sprintf("quiet hours %s–%s in %s until %s local", tt.start, tt.end, tt.tz, tt.end)
			if reason != wantReason {
				t.Errorf("reason = %q, want %q", reason, wantReason)
			}
			// until is the moment the hold ends: held just before, sent at it.
			if h, _, _, _ := r.Hold(until.Add(-time.Nanosecond), tt.tz, -1); !h {
				t.Errorf("not held just before until")
			}
			if h, u, _, _ := r.Hold(until, tt.tz, -1); h {
				t.Errorf("still held at until, until %s", u)
			}
		})
	}
}

func TestUnknownZoneUsesUTC(t *testing.T) {
	r := compile(t, quietOnly("21:00", "08:00"), "", "")
	for _, tz := range []string{"", "Mars/Olympus", "Local", "../../etc/passwd", "asia/tokyo x"} {
		t.Run(tz, func(t *testing.T) {
			held, until, reason, _ := r.Hold(ts(t, "2026-03-10T22:00:00Z"), tz, -1)
			if !held || !until.Equal(ts(t, "2026-03-11T08:00:00Z")) {
				t.Fatalf("Hold at 22:00Z = %v until %s, want held until 08:00Z", held, until)
			}
			if !strings.Contains(reason, "(time zone unknown, UTC used)") {
				t.Errorf("reason %q does not say UTC was used", reason)
			}
			if tz != "" && strings.Contains(reason, tz) {
				t.Errorf("reason %q repeats the unknown zone name", reason)
			}
			// 12:00Z is outside in UTC; in Asia/Tokyo it would be 21:00, inside.
			if held, _, reason, _ := r.Hold(ts(t, "2026-03-10T12:00:00Z"), tz, -1); held {
				t.Errorf("held at 12:00Z: %s", reason)
			}
		})
	}
}

func TestBypass(t *testing.T) {
	night := ts(t, "2026-03-10T02:14:00+09:00")
	tests := []struct {
		name     string
		pol      plan.Policy
		class    string
		sent     int
		wantKind policy.Kind // "" = not held
		wantPer  time.Duration
		wantMax  int
	}{
		{"marketing at night over the cap", seedPolicy(), plan.ClassMarketing, 5, policy.KindQuietHours, 7 * 24 * time.Hour, 3},
		{"empty class is marketing", seedPolicy(), "", 0, policy.KindQuietHours, 7 * 24 * time.Hour, 3},
		{"transactional at night over the cap", seedPolicy(), plan.ClassTransactional, 5, "", 0, 0},
		{"internal at night over the cap", seedPolicy(), plan.ClassInternal, 5, "", 0, 0},
		{"marketing bypassing quiet hours, under the cap", withBypass(plan.ClassMarketing, "quiet_hours"), plan.ClassMarketing, 0, "", 7 * 24 * time.Hour, 3},
		{"marketing bypassing quiet hours, at the cap", withBypass(plan.ClassMarketing, "quiet_hours"), plan.ClassMarketing, 3, policy.KindFrequencyCap, 7 * 24 * time.Hour, 3},
		{"transactional bypassing only the cap", withBypass(plan.ClassTransactional, "frequency_cap"), plan.ClassTransactional, 5, policy.KindQuietHours, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := compile(t, planOf(tt.pol), "", tt.class)
			held, _, reason, kind := r.Hold(night, "Asia/Tokyo", tt.sent)
			if held != (tt.wantKind != "") || kind != tt.wantKind {
				t.Fatalf("held=%v kind=%q (%s), want kind %q", held, kind, reason, tt.wantKind)
			}
			if per, max := r.FrequencyWindow(); per != tt.wantPer || max != tt.wantMax {
				t.Errorf("FrequencyWindow = %s, %d; want %s, %d", per, max, tt.wantPer, tt.wantMax)
			}
		})
	}
}

func withBypass(class string, rules ...string) plan.Policy {
	p := seedPolicy()
	p.Bypass = map[string][]string{class: rules}
	return p
}

func TestFrequencyCap(t *testing.T) {
	now := ts(t, "2026-03-10T12:00:00+09:00")
	week := planOf(plan.Policy{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 3, Per: "7d"}})
	short := planOf(plan.Policy{Name: "default", FrequencyCap: &plan.FrequencyCap{Max: 2, Per: "30m"}})
	tests := []struct {
		name      string
		p         *plan.Plan
		sent      int
		wantUntil time.Duration // from now; 0 = not held
	}{
		{"none sent", week, 0, 0},
		{"under the cap", week, 2, 0},
		{"at the cap", week, 3, time.Hour},
		{"over the cap", week, 7, time.Hour},
		{"not counted", week, -1, 0},
		{"retry capped to a short window", short, 2, 30 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := compile(t, tt.p, "", "")
			held, until, reason, kind := r.Hold(now, "Asia/Tokyo", tt.sent)
			if held != (tt.wantUntil != 0) {
				t.Fatalf("held = %v (%s), want %v", held, reason, tt.wantUntil != 0)
			}
			if !held {
				return
			}
			if got := until.Sub(now); got != tt.wantUntil {
				t.Errorf("until = now+%s, want now+%s", got, tt.wantUntil)
			}
			if kind != policy.KindFrequencyCap || !strings.HasPrefix(reason, "frequency cap ") {
				t.Errorf("kind = %q, reason = %q", kind, reason)
			}
		})
	}
	if per, max := compile(t, week, "", "").FrequencyWindow(); per != 7*24*time.Hour || max != 3 {
		t.Errorf("FrequencyWindow = %s, %d; want 168h, 3", per, max)
	}
}

func TestBothRulesHold(t *testing.T) {
	r := compile(t, planOf(seedPolicy()), "", plan.ClassMarketing)
	tests := []struct {
		now, wantUntil string
	}{
		// Quiet hours end later than the cap's retry: the later wins.
		{"2026-03-10T02:14:00+09:00", "2026-03-10T08:00:00+09:00"},
		// Quiet hours end in 30 minutes, the cap's retry in an hour.
		{"2026-03-10T07:30:00+09:00", "2026-03-10T08:30:00+09:00"},
	}
	for _, tt := range tests {
		held, until, reason, kind := r.Hold(ts(t, tt.now), "Asia/Tokyo", 3)
		if !held || kind != policy.KindQuietHours {
			t.Fatalf("%s: held=%v kind=%q, want quiet hours", tt.now, held, kind)
		}
		if want := ts(t, tt.wantUntil); !until.Equal(want) {
			t.Errorf("%s: until = %s, want %s", tt.now, until, want)
		}
		want := "quiet hours 21:00–08:00 in Asia/Tokyo until 08:00 local; frequency cap 3 per 7d reached"
		if reason != want {
			t.Errorf("%s: reason = %q, want %q", tt.now, reason, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*plan.Policy)
		class  string
		ref    string
		wantIn []string
	}{
		{"hour 25", func(p *plan.Policy) { p.QuietHours.Start = "25:00" }, "", "eu", []string{`policy "eu"`, "quiet_hours start", `"25:00"`}},
		{"am/pm", func(p *plan.Policy) { p.QuietHours.End = "8am" }, "", "eu", []string{`policy "eu"`, "quiet_hours end", `"8am"`}},
		{"one-digit hour", func(p *plan.Policy) { p.QuietHours.Start = "8:00" }, "", "eu", []string{`policy "eu"`, "quiet_hours start"}},
		{"minute 60", func(p *plan.Policy) { p.QuietHours.End = "07:60" }, "", "eu", []string{`policy "eu"`, "quiet_hours end"}},
		{"per x", func(p *plan.Policy) { p.FrequencyCap.Per = "x" }, "", "eu", []string{`policy "eu"`, "frequency_cap per", `"x"`}},
		{"per zero", func(p *plan.Policy) { p.FrequencyCap.Per = "0d" }, "", "eu", []string{`policy "eu"`, "frequency_cap per"}},
		{"max zero", func(p *plan.Policy) { p.FrequencyCap.Max = 0 }, "", "eu", []string{`policy "eu"`, "frequency_cap max"}},
		// A broken rule is an error even for a class that bypasses it.
		{"bypassed rule still checked", func(p *plan.Policy) { p.QuietHours.Start = "25:00" }, plan.ClassTransactional, "eu", []string{`policy "eu"`, "quiet_hours start"}},
		{"unknown class", func(*plan.Policy) {}, "promo", "eu", []string{`"promo"`, "marketing"}},
		{"named policy missing", func(*plan.Policy) {}, "", "us", []string{`policy "us"`, `"default"`, `"eu"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eu := seedPolicy()
			eu.Name = "eu"
			tt.edit(&eu)
			r, err := policy.Compile(planOf(seedPolicy(), eu), tt.ref, tt.class)
			if err == nil {
				t.Fatalf("Compile succeeded (%v), want an error", r)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPolicyResolution(t *testing.T) {
	nightOwl := plan.Policy{Name: "night-owl", QuietHours: &plan.QuietHours{Start: "02:00", End: "05:00"}}
	p := planOf(seedPolicy(), nightOwl)
	at22 := ts(t, "2026-03-10T22:00:00+09:00")
	at03 := ts(t, "2026-03-10T03:00:00+09:00")

	named := compile(t, p, "night-owl", "")
	if held, _, reason, _ := named.Hold(at22, "Asia/Tokyo", 10); held {
		t.Errorf("named policy: held at 22:00 (%s); the default's rules leaked in", reason)
	}
	if held, until, _, _ := named.Hold(at03, "Asia/Tokyo", -1); !held || !until.Equal(ts(t, "2026-03-10T05:00:00+09:00")) {
		t.Errorf("named policy at 03:00: held=%v until %s, want until 05:00", held, until)
	}
	if held, _, _, _ := compile(t, p, "", "").Hold(at22, "Asia/Tokyo", -1); !held {
		t.Errorf("no name: the default policy did not apply")
	}

	// Without policies, nothing is ever held, whatever the name "" resolves to.
	for _, empty := range []*plan.Plan{nil, {}, planOf(nightOwl)} {
		r := compile(t, empty, "", plan.ClassMarketing)
		for _, now := range []time.Time{at22, at03} {
			if held, _, reason, _ := r.Hold(now, "Asia/Tokyo", 1000); held {
				t.Errorf("no default policy: held (%s)", reason)
			}
		}
		if per, max := r.FrequencyWindow(); per != 0 || max != 0 {
			t.Errorf("no default policy: FrequencyWindow = %s, %d", per, max)
		}
	}
	if _, err := policy.Compile(nil, "eu", ""); err == nil || !strings.Contains(err.Error(), `policy "eu"`) {
		t.Errorf("named policy in a nil plan: err = %v", err)
	}

	var nilRules *policy.Rules
	if held, _, _, _ := nilRules.Hold(at03, "Asia/Tokyo", 1000); held {
		t.Error("nil Rules held a message")
	}
}

// TestHoldConcurrent runs Hold from many goroutines over zones loaded for the
// first time, for the race detector's sake: the zone cache is shared.
func TestHoldConcurrent(t *testing.T) {
	r := compile(t, planOf(seedPolicy()), "", "")
	zones := []string{"Europe/Lisbon", "America/Chicago", "Australia/Adelaide", "Nowhere/Atall", "", "Asia/Kolkata"}
	now := ts(t, "2026-06-01T00:30:00Z")
	want := make([]bool, len(zones))
	for i, tz := range zones {
		want[i], _, _, _ = r.Hold(now, tz, -1)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				k := (g + i) % len(zones)
				if held, _, _, _ := r.Hold(now, zones[k], -1); held != want[k] {
					t.Errorf("%s: held=%v, want %v", zones[k], held, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHoldDoesNotAllocateWhenSending(t *testing.T) {
	r := compile(t, planOf(seedPolicy()), "", "")
	now := ts(t, "2026-03-10T12:00:00+09:00")
	r.Hold(now, "Asia/Tokyo", 0) // load the zone
	allocs := testing.AllocsPerRun(1000, func() {
		if held, _, _, _ := r.Hold(now, "Asia/Tokyo", 0); held {
			t.Fatal("held")
		}
	})
	if allocs != 0 {
		t.Errorf("Hold allocates %.0f times per call when it sends", allocs)
	}
}

// FuzzHold checks Hold against the wall clock over zones with unusual
// transitions: held exactly when the local minute is in the window, and until
// is the end of the hold (held just before it, sent at it) within a day or so.
func FuzzHold(f *testing.F) {
	zones := []string{
		"America/New_York",
		"Australia/Lord_Howe", // 30-minute DST shift
		"America/Sao_Paulo",   // historic DST changes at midnight
		"Pacific/Apia",        // skipped 30 December 2011
		"Asia/Kathmandu",      // +05:45
		"Europe/London",
		"UTC",
	}
	f.Add(int64(1772951400), uint16(21*60), uint16(2*60+30), uint8(0)) // New York 01:30 EST, spring-forward night
	f.Add(int64(1793509800), uint16(0), uint16(90), uint8(0))          // New York 01:10 EDT, fall-back night
	f.Add(int64(1325232000), uint16(21*60), uint16(8*60), uint8(3))    // Apia 22:00 on the eve of the skipped day
	f.Add(int64(1775313900), uint16(60), uint16(150), uint8(1))        // Lord Howe 01:45, half-hour fall-back night
	f.Add(int64(1224383400), uint16(23*60), uint16(30), uint8(2))      // São Paulo 23:30, the night midnight was skipped
	f.Add(int64(1775313926), uint16(94), uint16(111), uint8(1))        // Lord Howe 01:45:26 +11, end read twice
	f.Fuzz(func(t *testing.T, unix int64, start, end uint16, zi uint8) {
		const from, span = 946684800, 130 * 365 * 86400 // 2000 to 2130
		if unix < from || unix >= from+span {
			unix = from + (unix%span+span)%span
		}
		s, e := int(start)%1440, int(end)%1440
		if s == e {
			return
		}
		tz := zones[int(zi)%len(zones)]
		loc, err := time.LoadLocation(tz)
		if err != nil {
			t.Fatal(err)
		}
		r := compile(t, quietOnly(clock(s), clock(e)), "", "")
		now := time.Unix(unix, 0)
		held, until, reason, _ := r.Hold(now, tz, -1)

		h, m, _ := now.In(loc).Clock()
		mins := h*60 + m
		in := s <= mins && mins < e
		if s > e {
			in = mins >= s || mins < e
		}
		if held != in {
			t.Fatalf("%s in %s, window %s–%s: held=%v (%s)", now.In(loc), tz, clock(s), clock(e), held, reason)
		}
		if !held {
			return
		}
		if !until.After(now) || until.Sub(now) > 50*time.Hour {
			t.Fatalf("%s in %s, window %s–%s: until %s", now.In(loc), tz, clock(s), clock(e), until.In(loc))
		}
		if h, _, _, _ := r.Hold(until.Add(-time.Nanosecond), tz, -1); !h {
			t.Fatalf("%s in %s, window %s–%s: not held just before until %s", now.In(loc), tz, clock(s), clock(e), until.In(loc))
		}
		if h, _, _, _ := r.Hold(until, tz, -1); h {
			t.Fatalf("%s in %s, window %s–%s: held at until %s", now.In(loc), tz, clock(s), clock(e), until.In(loc))
		}
	})
}

func clock(mins int) string { return fmt.Sprintf("%02d:%02d", mins/60, mins%60) }

func BenchmarkHold(b *testing.B) {
	r := compile(b, planOf(seedPolicy()), "", plan.ClassMarketing)
	noon := ts(b, "2026-03-10T12:00:00+09:00")
	night := ts(b, "2026-03-10T02:14:00+09:00")
	cases := []struct {
		name string
		now  time.Time
		tz   string
		sent int
	}{
		{"send", noon, "Asia/Tokyo", 0},
		{"send/zone unknown", ts(b, "2026-03-10T12:00:00Z"), "", 0},
		{"held/quiet hours", night, "Asia/Tokyo", 0},
		{"held/quiet hours, zone unknown", night, "Mars/Olympus", 0},
		{"held/frequency cap", noon, "Asia/Tokyo", 3},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Hold(c.now, c.tz, c.sent)
			}
		})
	}
}

func ExampleRules_Hold() {
	p := &plan.Plan{Policies: []plan.Policy{{
		Name:       "default",
		QuietHours: &plan.QuietHours{Start: "21:00", End: "08:00"},
	}}}
	rules, err := policy.Compile(p, "", plan.ClassMarketing)
	if err != nil {
		panic(err)
	}
	now := time.Date(2026, 3, 9, 17, 14, 0, 0, time.UTC) // 02:14 in Tokyo
	held, until, reason, kind := rules.Hold(now, "Asia/Tokyo", -1)
	fmt.Println(held, until.UTC().Format(time.RFC3339), kind)
	fmt.Println(reason)
	// Output:
	// true 2026-03-09T23:00:00Z quiet_hours
	// quiet hours 21:00–08:00 in Asia/Tokyo until 08:00 local
}

// Consent: an opt_in policy needs consent for marketing mail only; a policy
// without the field is opt_out, as every plan was before it existed; another
// value is an error naming the policy.
func TestConsentRegime(t *testing.T) {
	for _, tc := range []struct {
		consent, class string
		want           bool
		err            string
	}{
		{"", plan.ClassMarketing, false, ""},
		{plan.ConsentOptOut, plan.ClassMarketing, false, ""},
		{plan.ConsentOptIn, plan.ClassMarketing, true, ""},
		{plan.ConsentOptIn, "", true, ""},
		{plan.ConsentOptIn, plan.ClassTransactional, false, ""},
		{plan.ConsentOptIn, plan.ClassInternal, false, ""},
		{"opt-in", plan.ClassMarketing, false, `policy "default": consent "opt-in" is neither opt_in nor opt_out`},
	} {
		p := &plan.Plan{Policies: []plan.Policy{{Name: "default", Consent: tc.consent}}}
		r, err := policy.Compile(p, "", tc.class)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("consent %q: error %v, want %q", tc.consent, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, name := r.OptIn()
		if got != tc.want || (got && name != "default") {
			t.Errorf("consent %q, class %q: OptIn() = %v, %q; want %v", tc.consent, tc.class, got, name, tc.want)
		}
	}
	if got, _ := (*policy.Rules)(nil).OptIn(); got {
		t.Error("nil rules need consent")
	}
}
