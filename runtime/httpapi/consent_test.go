package httpapi

import (
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store"
)

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{
		"ann@example.com":  "a***@example.com",
		"é@example.com":    "é***@example.com",
		"x@y":              "x***@y",
		"@example.com":     "your address",
		"not-an-address":   "your address",
		"":                 "your address",
		"bob.smith@ex.org": "b***@ex.org",
	} {
		if got := maskEmail(in); got != want {
			t.Errorf("maskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

// typeOn is the later of the type's own latest entry and the all-marketing
// one; without either, on.
func TestTypeOn(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	e := func(id int64, sub, action string, at time.Time) store.ConsentEntry {
		return store.ConsentEntry{ID: id, Subscription: sub, Action: action, RecordedAt: at}
	}
	for _, tc := range []struct {
		name    string
		entries []store.ConsentEntry
		want    bool
	}{
		{"no entry", nil, true},
		{"own withdraw", []store.ConsentEntry{e(1, "news", "withdraw", t0)}, false},
		{"own grant", []store.ConsentEntry{e(1, "news", "grant", t0)}, true},
		{"all withdraw", []store.ConsentEntry{e(1, "", "withdraw", t0)}, false},
		{"own withdraw, later all grant", []store.ConsentEntry{e(1, "news", "withdraw", t0), e(2, "", "grant", t0.Add(time.Hour))}, true},
		{"all withdraw, later own grant", []store.ConsentEntry{e(1, "", "withdraw", t0), e(2, "news", "grant", t0.Add(time.Hour))}, true},
		{"same instant: higher id wins", []store.ConsentEntry{e(2, "", "withdraw", t0), e(1, "news", "grant", t0)}, false},
		{"another type's withdraw", []store.ConsentEntry{e(1, "offers", "withdraw", t0)}, true},
	} {
		latest := map[string]store.ConsentEntry{}
		for _, en := range tc.entries {
			latest[en.Subscription] = en
		}
		if got := typeOn(latest, "news"); got != tc.want {
			t.Errorf("%s: typeOn = %v, want %v", tc.name, got, tc.want)
		}
	}
}
