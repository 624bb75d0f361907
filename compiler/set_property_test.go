package compiler_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
)

// TestSetPropertyValueForms: validate accepts a set_property value exactly
// when the engine would write it, i.e. when it is of its field's form, the
// one segments read as a value (plan.PropertyValue). A value that validated
// and then had its step skipped at run time (0x1p-2 or 1e-400 for a float,
// year 0000 or an offset of +16:00 for a timestamp) would be a step that does
// nothing; one the engine writes (True for a bool, a date for a timestamp)
// validates.
func TestSetPropertyValueForms(t *testing.T) {
	cases := []struct {
		field string // the field of lead the step sets
		value string // HCL source of the value
		ok    bool
	}{
		{"score", `"42"`, true},
		{"score", `42`, true},
		{"score", `"-7"`, true},
		{"score", `"+7"`, true},
		{"score", `"1_000"`, false},
		{"score", `"0x10"`, false},
		{"score", `"0b101"`, false},
		{"score", `" 7"`, false},
		{"score", `"9223372036854775808"`, false},
		{"score", `"1.5"`, false},

		{"ratio", `"0.25"`, true},
		{"ratio", `0.25`, true},
		{"ratio", `"-1.5e3"`, true},
		{"ratio", `".5"`, true},
		{"ratio", `"inf"`, true},
		{"ratio", `"0x1p-2"`, false},
		{"ratio", `"1_000.5"`, false},
		{"ratio", `"1e-400"`, false},
		{"ratio", `"1e400"`, false},
		{"ratio", `"1e0005"`, false},
		{"ratio", `"+nan"`, false},
		{"ratio", `1e-400`, false}, // its 400-odd digits are more than an int's or a float's text may have

		{"active", `"true"`, true},
		{"active", `false`, true},
		{"active", `"True"`, true},
		{"active", `"0"`, true},
		{"active", `"yes"`, false},
		{"active", `" true"`, false},

		{"seen", `"2026-12-03T10:00:00Z"`, true},
		{"seen", `"2026-12-03T10:00:00.5+15:59"`, true},
		{"seen", `"2026-12-03"`, true},
		{"seen", `"2026-12-03T10:00:00"`, true},
		{"seen", `"0000-01-01T00:00:00Z"`, false},
		{"seen", `"0000-01-01"`, false},
		{"seen", `"2026-12-03T10:00:00+16:00"`, false},
		{"seen", `"2026-12-03T10:00:00-23:59"`, false},
		{"seen", `"2026-02-30T00:00:00Z"`, false},
		{"seen", `"2026-12-03T24:00:00Z"`, false},
		{"seen", `"2026-12-03 10:00:00Z"`, false},

		{"tags", `"a"`, false},
	}
	for _, c := range cases {
		t.Run(c.field+"="+c.value, func(t *testing.T) {
			checkSetPropertyValue(t, "main.hcl", setPropertyPlan, c.field, c.value, c.ok)
		})
	}
}

// checkSetPropertyValue compiles src, a plan whose workflow "w" has a step
// "set" writing lead.<field> (the two %s: field and value), from file, and
// wants it to validate when ok, and otherwise one error naming the step's
// value and field, at the value's line of file, saying which form it wants.
func checkSetPropertyValue(t *testing.T, file, src, field, value string, ok bool) {
	t.Helper()
	valueAt := strings.Index(src, "%s\n")
	line := strings.Count(src[:strings.LastIndex(src[:valueAt], "\n")+1], "\n") + 1
	p, ds := compiler.Compile(fstest.MapFS{file: {Data: []byte(fmt.Sprintf(src, field, value))}}, compiler.Options{})
	errs, _ := ds.Count()
	if ok {
		if errs != 0 || p == nil {
			t.Fatalf("want the plan to validate, got %v", summaries(ds))
		}
		return
	}
	if errs != 1 || p != nil {
		t.Fatalf("want one error, got %d: %v", errs, summaries(ds))
	}
	d := ds[0]
	if !strings.Contains(d.Summary, `step "set" of workflow "w": value`) || !strings.Contains(d.Summary, "lead."+field) {
		t.Errorf("summary %q does not name the step's value and field", d.Summary)
	}
	if d.Subject == nil || d.Subject.Filename != file || d.Subject.Start.Line != line {
		t.Errorf("error at %v, want %s line %d (the value)", d.Subject, file, line)
	}
	if d.Detail == "" {
		t.Errorf("no detail saying which form the field's type wants")
	}
}

const setPropertyPlan = `model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "name"   { type = "string" }
  field "score"  { type = "int" }
  field "ratio"  { type = "float" }
  field "active" { type = "bool" }
  field "seen"   { type = "timestamp" }
  field "tags"   { type = "list(string)" }
}

segment "all" {
  model  = "lead"
  filter = "true"
}

sender "s" {
  from = "News <news@acme.example>"
}

workflow "w" {
  type   = "customer_success"
  model  = "lead"
  sender = "s"
  trigger {
    event     = "metric_threshold"
    field     = "lead.score"
    threshold = 10
  }
  step "wait" {
    wait = "1d"
  }
  step "set" {
    set_property = "lead.%s"
    value        = %s
  }
}
`

func summaries(ds diag.Diagnostics) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Summary
	}
	return out
}

// TestSetPropertyValueFormsInCUE: the CUE front end gives set_property's
// value to the same check, so a value of the wrong form is refused at its own
// line of the .cue file, and one of the right form (a CUE number, bool or
// string) validates.
func TestSetPropertyValueFormsInCUE(t *testing.T) {
	cases := []struct {
		field, value string // value: CUE source
		ok           bool
	}{
		{"score", `42`, true},
		{"score", `"42"`, true},
		{"score", `"1.5"`, false},
		{"score", `"0x10"`, false},
		{"ratio", `0.25`, true},
		{"ratio", `"1e-400"`, false},
		{"active", `false`, true},
		{"active", `"yes"`, false},
		{"seen", `"2026-12-03T10:00:00Z"`, true},
		{"seen", `"2026-02-30T00:00:00Z"`, false},
	}
	for _, c := range cases {
		t.Run(c.field+"="+c.value, func(t *testing.T) {
			checkSetPropertyValue(t, "main.cue", setPropertyCUE, c.field, c.value, c.ok)
		})
	}
}

const setPropertyCUE = `package campaigns

model: lead: {
	table: "crm_lead"
	key:   "id"
	email: "email"
	field: name: type:   "string"
	field: score: type:  "int"
	field: ratio: type:  "float"
	field: active: type: "bool"
	field: seen: type:   "timestamp"
}

segment: all: {
	model:  "lead"
	filter: "true"
}

sender: s: from: "News <news@acme.example>"

workflow: w: {
	type:   "customer_success"
	model:  "lead"
	sender: "s"
	trigger: {
		event:     "metric_threshold"
		field:     "lead.score"
		threshold: 10
	}
	step: wait: wait: "1d"
	step: set: {
		set_property: "lead.%s"
		value:        %s
	}
}
`
