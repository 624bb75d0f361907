package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// apply says what a change does to what runs now, against the revision
// applied before: here that contacts already in an edited workflow wait
// wait the new duration, and that a removed sequence's contacts leave it.
func TestApplySaysWhatAChangeDoesToRunningEnrollments(t *testing.T) {
	t.Parallel()
	_, url := storetest.Open(t)
	dir := t.TempDir()
	write := func(name, wait string, withSequence bool) string {
		p := &plan.Plan{
			Models:    []plan.Model{{Name: "lead", Table: "leads", Key: "id", Email: "email"}},
			Segments:  []plan.Segment{{Name: "all", Model: "lead", Filter: "true"}},
			Senders:   []plan.Sender{{Name: "s", From: "S <s@example.com>"}},
			Templates: []plan.Template{{Name: "t", Subject: "Hi", Text: "x {{ .unsubscribe_url }}", Class: plan.ClassTransactional}},
			Workflows: []plan.Workflow{{Name: "rescue", Type: "abandoned_cart", Model: "lead", Class: plan.ClassTransactional, Sender: "s",
				Trigger: plan.Trigger{Event: "cart_abandoned"}, Steps: []plan.Step{
					{Name: "pause", Kind: plan.StepWait, Duration: wait},
					{Name: "remind", Kind: plan.StepSend, Template: "t"},
				}}},
		}
		if withSequence {
			p.Sequences = []plan.Sequence{{Name: "nurture", Model: "lead", Segment: "all", Sender: "s",
				Steps: []plan.SequenceStep{{Name: "one", Offset: "0d", Template: "t"}}}}
		}
		p.Finalize()
		data, err := plan.Encode(p)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	code, _, stderr := env(nil).runCmd("apply", "--db", url, write("one.json", "4d", true))
	if code != 0 || strings.Contains(stderr, "now waits") {
		t.Fatalf("first apply: exit %d\n%s", code, stderr)
	}
	code, _, stderr = env(nil).runCmd("apply", "--db", url, write("two.json", "1d", false))
	if code != 0 {
		t.Fatalf("second apply: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{
		`campaignctl apply: warning: workflow "rescue" step pause now waits 1d instead of 4d: contacts already waiting there wait the new duration, counted from when their wait began`,
		`campaignctl apply: warning: sequence "nurture" is removed: contacts enrolled in it leave it`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("apply's warnings lack %q:\n%s", want, stderr)
		}
	}
}
