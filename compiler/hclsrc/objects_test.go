package hclsrc

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Each kind attribute gives a step its kind and lands in the IR field the plan
// uses for it.
func TestStepKinds(t *testing.T) {
	src := `workflow "w" {
  step "a" {
    wait        = "-1d"
    relative_to = "event.date"
  }
  step "b" { send = "t" }
  step "c" {
    if   = "lead.x > 1"
    then = "a"
  }
  step "d" {
    engagement {
      step  = "b"
      event = "opened"
    }
    then = "a"
  }
  step "e" {
    set_property = "lead.active"
    value        = false
  }
  step "f" { clear_property = "lead.owner" }
  step "g" { notify_owner = "alert" }
  step "h" {
    assign_owner = ["a@x.example", "b@x.example"]
    field        = "lead.owner"
  }
  step "i" { exit = true }
}
`
	cfg, ds := Parse(fstest.MapFS{}, "w.hcl", []byte(src))
	if len(ds) != 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	st := cfg.Workflows[0].Steps
	kinds := []string{plan.StepWait, plan.StepSend, plan.StepBranch, plan.StepBranch, plan.StepSetProperty,
		plan.StepClearProperty, plan.StepNotifyOwner, plan.StepAssignOwner, plan.StepExit}
	if len(st) != len(kinds) {
		t.Fatalf("%d steps", len(st))
	}
	for i, k := range kinds {
		if st[i].Kind == nil || st[i].Kind.Value != k {
			t.Errorf("step %s: kind %v, want %s", st[i].Name.Value, st[i].Kind, k)
		}
	}
	if st[0].Duration.Value != "-1d" || st[0].RelativeTo.Value != "event.date" {
		t.Error("wait")
	}
	if st[1].Template.Value != "t" || st[6].Template.Value != "alert" {
		t.Error("send and notify_owner carry the template")
	}
	if st[2].Condition.Value != "lead.x > 1" || st[3].Engagement == nil || st[3].Engagement.Event.Value != "opened" {
		t.Error("branches")
	}
	if st[4].Field.Value != "lead.active" || st[4].Value.Value != "false" || st[5].Field.Value != "lead.owner" {
		t.Error("properties: a bool literal value becomes its text")
	}
	owners := st[7].Owners
	if len(owners.Values) != 2 || owners.Values[1].Value != "b@x.example" || st[7].Field.Value != "lead.owner" {
		t.Fatal("assign_owner")
	}
	// Each list element keeps its own position, inside its quotes.
	if r := owners.Values[1].Content(); src[r.Start.Byte:r.End.Byte] != "b@x.example" {
		t.Errorf("element range covers %q", src[r.Start.Byte:r.End.Byte])
	}
}

func TestStepKindErrors(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`next = "x"`, `step "s" does nothing`},
		{`wait = "1d"
    send = "t"`, `step "s" has both wait and send`},
		{`exit = false`, `exit = false does nothing`},
		{`set_property = "lead.a"
    field = "lead.b"`, `field does not apply`},
	} {
		src := "workflow \"w\" {\n  step \"s\" {\n    " + tc.body + "\n  }\n}\n"
		_, ds := Parse(fstest.MapFS{}, "w.hcl", []byte(src))
		if len(ds) != 1 || !strings.Contains(ds[0].Summary, tc.want) || !strings.HasPrefix(ds[0].Summary, `workflow "w": `) {
			t.Errorf("%q: got %v, want one error containing %q", tc.body, ds, tc.want)
		}
	}
}

func TestValueKinds(t *testing.T) {
	src := `policy "p" {
  daily_quota = 20.5
  rate_per_minute = 1e20
  suppress = "x"
  org_domains = ["a.example", true]
}
autoresponder "a" {
  max_follow_ups = 3
  recurrence { weekdays = ["mon"] }
}
`
	cfg, ds := Parse(fstest.MapFS{}, "p.hcl", []byte(src))
	var got []string
	for _, d := range ds {
		got = append(got, d.Summary)
	}
	want := []string{
		"daily_quota must be a whole number, not 20.5",
		"rate_per_minute must be a whole number, not 1e+20",
		"suppress must be a list of strings",
		"each element of org_domains must be a string, not a bool",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p := cfg.Policies[0]
	if !p.DailyQuota.Invalid || !p.Suppress.Invalid || !p.OrgDomains.Invalid {
		t.Error("unreadable values must be marked Invalid, so nothing else reports them")
	}
	if r := cfg.Autoresponders[0]; r.MaxFollowUps.Value != 3 || r.Recurrence.Weekdays.Values[0].Value != "mon" {
		t.Error("autoresponder values")
	}
}
