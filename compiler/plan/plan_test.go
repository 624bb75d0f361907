package plan

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func samplePlan() *Plan {
	return &Plan{
		Models:    []Model{{Name: "lead", Table: "crm_lead", Key: "id", Email: "email", Fields: []Field{{Name: "stage", Column: "stage", Type: TypeString}}}},
		Segments:  []Segment{{Name: "b", Model: "lead", Filter: "true"}, {Name: "a", Model: "lead", Filter: `lead.stage == "Lost"`}},
		Templates: []Template{{Name: "t", Subject: "<b>hi</b>", Class: ClassMarketing}},
		Campaigns: []Campaign{{Name: "c", Segment: "a", Template: "t", Class: ClassMarketing}},
	}
}

func TestFinalizeIsCanonical(t *testing.T) {
	p1, p2 := samplePlan(), samplePlan()
	p2.Segments[0], p2.Segments[1] = p2.Segments[1], p2.Segments[0]
	p1.Finalize()
	p2.Finalize()
	b1, _ := Encode(p1)
	b2, _ := Encode(p2)
	if !bytes.Equal(b1, b2) {
		t.Fatal("input order leaks into the plan bytes")
	}
	if p1.Segments[0].Name != "a" {
		t.Fatal("segments not sorted")
	}
	if !bytes.Contains(b1, []byte(`"<b>hi</b>"`)) {
		t.Fatal("HTML escaped in plan")
	}
	if !bytes.Contains(b1, []byte(`"workflows": []`)) {
		t.Fatal("empty kinds must encode as [] not null")
	}
}

func TestHashesTrackContent(t *testing.T) {
	p1, p2 := samplePlan(), samplePlan()
	p2.Segments[1].Filter = `lead.stage == "Won"`
	p1.Finalize()
	p2.Finalize()
	if p1.Hash == p2.Hash {
		t.Fatal("plan hash ignores a changed filter")
	}
	if p1.Segments[1].Hash != p2.Segments[1].Hash {
		t.Fatal("unchanged segment b changed hash")
	}
	if p1.Segments[0].Hash == p2.Segments[0].Hash {
		t.Fatal("changed segment a kept its hash")
	}
	p3 := samplePlan()
	p3.Source = Source{Commit: "abc", Dirty: true}
	p3.Finalize()
	if p3.Hash != p1.Hash {
		t.Fatal("source commit must not change the plan hash")
	}
}

func TestDecodeRefusesEditedPlan(t *testing.T) {
	p := samplePlan()
	p.Finalize()
	b, _ := Encode(p)
	if _, err := Decode(b); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	edited := bytes.Replace(b, []byte(`"crm_lead"`), []byte(`"crm_leads"`), 1)
	if _, err := Decode(edited); err == nil || !strings.Contains(err.Error(), "hash mismatch") {
		t.Fatalf("edited plan: got %v", err)
	}
	future := bytes.Replace(b, []byte(`"format_version": 1`), []byte(`"format_version": 99`), 1)
	if _, err := Decode(future); err == nil || !strings.Contains(err.Error(), "format_version 99") {
		t.Fatalf("future plan: got %v", err)
	}
}

func TestEventRetention(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		policies []Policy
		want     time.Duration
		policy   string
		err      string
	}{
		{name: "none", policies: []Policy{{Name: "default"}}},
		{name: "longest wins", policies: []Policy{{Name: "a", EventRetention: "400d"}, {Name: "b", EventRetention: "60w"}, {Name: "c"}}, want: 420 * day, policy: "b"},
		{name: "one", policies: []Policy{{Name: "default", EventRetention: "31d"}}, want: 31 * day, policy: "default"},
		{name: "bad value is an error, not skipped", policies: []Policy{{Name: "a", EventRetention: "400d"}, {Name: "b", EventRetention: "36h"}}, err: `policy "b": event_retention "36h" is not a whole number of days`},
		{name: "too short", policies: []Policy{{Name: "a", EventRetention: "30d"}}, err: "shorter than 31 days"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &Plan{Policies: tc.policies}
			got, pol, err := p.EventRetention()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				if got != 0 {
					t.Errorf("retention = %v with an error, want 0 (keep everything)", got)
				}
				return
			}
			if err != nil || got != tc.want || pol != tc.policy {
				t.Errorf("EventRetention() = %v, %q, %v; want %v, %q", got, pol, err, tc.want, tc.policy)
			}
		})
	}
}
