package check

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestParseDuration(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90m", 90 * time.Minute, ""},
		{"36h", 36 * time.Hour, ""},
		{"3d", 3 * day, ""},
		{"2w", 14 * day, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"0d", 0, ""},
		{"500ms", 500 * time.Millisecond, ""},
		{"-1d", -day, ""},
		{"", 0, "empty"},
		{"-", 0, "empty"},
		{"3", 0, "a unit must follow 3"},
		{"d", 0, "expected a number"},
		{"3 days", 0, "a unit must follow 3"},
		{"3days", 0, `unknown unit "days"`},
		{"1.5h", 0, "a unit must follow 1"},
		{"3D", 0, "a unit must follow 3"},
		{"--1d", 0, "expected a number"},
		{"5300w", 0, "too long"},
		{"99999999999999999999d", 0, "too long"},
		{"5000w5000w", 0, "too long"},
	} {
		got, err := plan.ParseDuration(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseDuration(%q): %v", tc.in, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseDuration(%q) = %v, %v; want an error containing %q", tc.in, got, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseDuration(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// Negative durations are for waits relative to a date only.
func TestDurationSign(t *testing.T) {
	s := &ir.String{Value: "-2d", Range: ir.Range{Filename: "w.hcl"}}
	c := newChecker(&ir.Config{}, nil)
	if d, ok := c.duration("step", "wait", s, true); !ok || d != -48*time.Hour || len(c.diags) != 0 {
		t.Errorf("relative wait: %v %v %v", d, ok, summaries(c.diags))
	}
	if _, ok := c.duration("step", "offset", s, false); ok || len(c.diags) != 1 || !strings.Contains(c.diags[0].Summary, "cannot be negative") {
		t.Errorf("offset: %v %v", ok, summaries(c.diags))
	}
	// Absent or unreadable: nothing to say (the schema or the front end speaks).
	c = newChecker(&ir.Config{}, nil)
	c.duration("step", "wait", nil, false)
	c.duration("step", "wait", &ir.String{Invalid: true}, false)
	if len(c.diags) != 0 {
		t.Errorf("absent or invalid: %v", summaries(c.diags))
	}
}
