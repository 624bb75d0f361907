package engine

import (
	"testing"
	"time"
)

// What a spent rate holds fills the next minutes at most the rate each, up
// to rateSpreadMinutes ahead, where the rest waits; a later minute starts
// again from the minute after it, and every sender and rate has its own.
func TestRateSlotsSpreadAtMostTheRateAMinute(t *testing.T) {
	var s rateSlots
	k := budgetKey{sender: "news", rate: 2}
	now := time.Date(2026, 12, 2, 9, 0, 30, 0, time.UTC)
	got := map[int]int{} // minutes after now's minute -> messages
	for range 2*rateSpreadMinutes + 5 {
		got[int(s.next(k, now).Sub(now.Truncate(time.Minute))/time.Minute)]++
	}
	for m := 1; m < rateSpreadMinutes; m++ {
		if got[m] != 2 {
			t.Errorf("minute +%d was given %d messages, want the rate 2 (all: %v)", m, got[m], got)
		}
	}
	if got[rateSpreadMinutes] != 7 || len(got) != rateSpreadMinutes {
		t.Errorf("minute +%d was given %d, want the 2 it has room for and the 5 beyond the spread (all: %v)", rateSpreadMinutes, got[rateSpreadMinutes], got)
	}
	// Another sender starts at the next minute.
	if at := s.next(budgetKey{sender: "shop", rate: 2}, now); !at.Equal(now.Truncate(time.Minute).Add(time.Minute)) {
		t.Errorf("another sender's first hold is due %s, want the next minute", at)
	}
	// Twenty minutes later the old slots are past: the next minute again.
	later := now.Add(20 * time.Minute)
	if at := s.next(k, later); !at.Equal(later.Truncate(time.Minute).Add(time.Minute)) {
		t.Errorf("a hold after the spread has passed is due %s, want the next minute", at)
	}
}
