package main

import "testing"

func TestReportHealth(t *testing.T) {
	for _, tc := range []struct {
		status string
		m      map[string]int64
		want   string
	}{
		{"sending", map[string]int64{"sent": 5, "pending": 5}, "Progressing"},
		{"scheduled", map[string]int64{}, "Progressing"},
		{"sending", map[string]int64{"sent": 5, "failed": 1, "pending": 5}, "Degraded"},
		{"sent", map[string]int64{"sent": 5, "failed": 1}, "Degraded"},
		{"failed", map[string]int64{"failed": 5}, "Degraded"},
		{"sent", map[string]int64{"sent": 5, "cancelled": 2}, "Healthy"},
		{"removed", map[string]int64{"sent": 5, "cancelled": 2}, "Healthy"},
	} {
		if got := health(tc.status, tc.m); got != tc.want {
			t.Errorf("health(%s, %v) = %s, want %s", tc.status, tc.m, got, tc.want)
		}
	}
}
