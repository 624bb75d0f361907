package cuesrc_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler/cuesrc"
	"github.com/campaignctl/campaignctl/compiler/ir"
)

// TestEmbed reads a template body with @embed: the value is the file's, and
// its bytes map into that file, as HCL's file() does. It guards the way the
// loader presents the tree to CUE as a module (SetFSLoc, Module, Root), which
// relies on CUE internals that an upgrade may change.
func TestEmbed(t *testing.T) {
	html := "<p>Hi {{ .lead.name }}</p>\n"
	fsys := fstest.MapFS{
		"mail/t.cue":     {Data: []byte("@extern(embed)\n\npackage campaigns\n\ntemplate: t: {\n\tsubject: \"Hi\"\n\thtml:    _ @embed(file=body.html, type=text)\n}\n")},
		"mail/body.html": {Data: []byte(html)},
	}
	cfg, ds := cuesrc.Load(fsys)
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	if len(cfg.Templates) != 1 || cfg.Templates[0].HTML == nil {
		t.Fatalf("templates: %+v", cfg.Templates)
	}
	s := cfg.Templates[0].HTML
	if s.Value != html {
		t.Fatalf("html = %q, want the file's content", s.Value)
	}
	i := strings.Index(html, ".lead")
	r := s.Sub(i, i+5)
	if r.Filename != "mail/body.html" || r.Start.Line != 1 || r.Start.Column != i+1 {
		t.Errorf(".lead maps to %s:%d:%d, want mail/body.html:1:%d", r.Filename, r.Start.Line, r.Start.Column, i+1)
	}
	if s.Range.Filename != "mail/t.cue" || s.Range.Start.Line != 7 {
		t.Errorf("the attribute's range is %s, want the @embed in mail/t.cue:7", s.Range)
	}
}

// TestRanges checks where names and declarations are placed, for the ways an
// object can be written.
func TestRanges(t *testing.T) {
	src := `package campaigns

sender: warehouse: from: "a@acme.example"

sender: {
	"news-letter": {from: "b@acme.example"}
}

#S: {from: "c@acme.example", ...}
sender: split: #S
sender: split: reply_to: "d@acme.example"
`
	cfg, ds := cuesrc.Load(fstest.MapFS{"s.cue": {Data: []byte(src)}})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	lines := ir.NewLines([]byte(src))
	text := func(r ir.Range) string { return src[r.Start.Byte:r.End.Byte] }
	want := map[string]struct{ name, decl string }{
		"warehouse":   {"warehouse", "sender: warehouse"},
		"news-letter": {"news-letter", "news-letter"},
		"split":       {"split", "sender: split"},
	}
	if len(cfg.Senders) != len(want) {
		t.Fatalf("%d senders, want %d", len(cfg.Senders), len(want))
	}
	for _, s := range cfg.Senders {
		w := want[s.Name.Value]
		if got := text(s.Name.Range); got != w.name {
			t.Errorf("%s: name range covers %q, want %q", s.Name.Value, got, w.name)
		}
		if got := text(s.DeclRange); got != w.decl {
			t.Errorf("%s: decl range covers %q, want %q", s.Name.Value, got, w.decl)
		}
		if lines.Pos(s.Name.Range.Start.Byte) != s.Name.Range.Start {
			t.Errorf("%s: name position disagrees with its byte offset", s.Name.Value)
		}
	}
	// reply_to of split is a literal in this file; from comes from #S.
	for _, s := range cfg.Senders {
		if s.Name.Value != "split" {
			continue
		}
		if got := text(s.From.Content()); got != "c@acme.example" {
			t.Errorf("from maps to %q, want the literal in #S", got)
		}
		if got := text(s.ReplyTo.Content()); got != "d@acme.example" {
			t.Errorf("reply_to maps to %q", got)
		}
	}
}

// A computed string maps as a whole onto the expression that computes it.
func TestComputedStringSpan(t *testing.T) {
	src := "package campaigns\n\n_who: \"ops\"\nsender: s: from: \"\\(_who)@acme.example\"\n"
	cfg, ds := cuesrc.Load(fstest.MapFS{"s.cue": {Data: []byte(src)}})
	if len(ds) > 0 || len(cfg.Senders) != 1 {
		t.Fatalf("diagnostics %v, senders %d", ds, len(cfg.Senders))
	}
	from := cfg.Senders[0].From
	if from.Value != "ops@acme.example" {
		t.Fatalf("from = %q", from.Value)
	}
	r := from.Sub(3, 4) // the "@", computed
	if got := src[r.Start.Byte:r.End.Byte]; got != `"\(_who)@acme.example"` {
		t.Errorf("a byte of a computed string maps to %q, want the whole interpolation", got)
	}
}

func TestFiles(t *testing.T) {
	fsys := fstest.MapFS{
		"b.cue":              {Data: []byte("")},
		"a/x.cue":            {Data: []byte("")},
		".git/y.cue":         {Data: []byte("")},
		"cue.mod/module.cue": {Data: []byte("")},
		".hidden.cue":        {Data: []byte("")},
		"notes.cue.txt":      {Data: []byte("")},
	}
	files, err := cuesrc.Files(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(files, " "); got != "a/x.cue b.cue" {
		t.Errorf("Files = %s", got)
	}
}

// Numbers and bools given where text is stored lower to the same text as in
// HCL, and whole numbers read as such.
func TestScalars(t *testing.T) {
	src := `package campaigns

policy: p: {daily_quota: 3.0, rate_per_minute: 1_000}
workflow: w: step: {
	a: {set_property: "lead.x", value: 1e3}
	b: {set_property: "lead.x", value: true}
	c: {set_property: "lead.x", value: 0.1}
}
`
	cfg, ds := cuesrc.Load(fstest.MapFS{"s.cue": {Data: []byte(src)}})
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	p := cfg.Policies[0]
	if p.DailyQuota.Value != 3 || p.RatePerMinute.Value != 1000 {
		t.Errorf("daily_quota %d, rate_per_minute %d", p.DailyQuota.Value, p.RatePerMinute.Value)
	}
	var got []string
	for _, st := range cfg.Workflows[0].Steps {
		got = append(got, st.Value.Value)
	}
	if strings.Join(got, " ") != "1000 true 0.1" {
		t.Errorf("values = %q", got)
	}
}

// TestEveryIRFieldIsRead loads a file that sets every attribute of every kind
// and fails for any IR field the front end never fills. A field declared with
// a lang tag is read by the generic reader; this test then asks for it in the
// kitchen sink, which the twin and fuzz tests also start from. A field read by
// hand (a custom member) must be mapped in the reader too.
func TestEveryIRFieldIsRead(t *testing.T) {
	cfg, ds := cuesrc.Load(os.DirFS("../../testdata/cue/kitchen-sink"))
	if len(ds) > 0 {
		t.Fatalf("diagnostics: %v", ds)
	}
	set := map[string]bool{}
	var walk func(v reflect.Value)
	walk = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem())
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i))
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				f, fv := v.Type().Field(i), v.Field(i)
				key := v.Type().Name() + "." + f.Name
				if _, seen := set[key]; !seen {
					set[key] = false
				}
				if !fv.IsZero() {
					set[key] = true
				}
				walk(fv)
			}
		}
	}
	walk(reflect.ValueOf(cfg).Elem())
	for key, ok := range set {
		// Invalid marks a value that could not be read, Verbatim a property of a
		// span: neither is an attribute.
		if !ok && !strings.HasSuffix(key, ".Invalid") && !strings.HasSuffix(key, ".Verbatim") &&
			!strings.HasPrefix(key, "Pos.") && !strings.HasPrefix(key, "Span.") {
			t.Errorf("the CUE front end never sets ir.%s: set it in testdata/cue/kitchen-sink (and, if it is not declared with a lang tag or is a custom member, read it in compiler/cuesrc/objects.go)", key)
		}
	}
}
