package mailer

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

func TestCompiledRendersLikeRender(t *testing.T) {
	tpl := &plan.Template{
		Name:    "t",
		Subject: "Hi {{ .lead.name | default \"there\" }},\n  {{ .missing }} news",
		HTML:    `<p>Hi {{ .lead.name }}</p>{{ .missing }}`,
		Text:    "Hi {{ .lead.name }} {{ .missing }}.",
	}
	c, err := Compile(tpl)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			data := map[string]any{"lead": map[string]any{"name": fmt.Sprintf("<b>n%d</b>", i)}}
			got, err := c.Render(data)
			if err != nil {
				t.Error(err)
				return
			}
			want, _ := Render(tpl, data)
			if got != want {
				t.Errorf("Compiled.Render = %+v, Render = %+v", got, want)
			}
			if strings.Contains(got.Text, "<no value>") || strings.Contains(got.Subject, "<no value>") {
				t.Errorf("missing key rendered as <no value>: %+v", got)
			}
			if got.Subject != fmt.Sprintf("Hi <b>n%d</b>, news", i) {
				t.Errorf("subject %q", got.Subject)
			}
		})
	}
	wg.Wait()
}

func TestCompileReportsParseErrors(t *testing.T) {
	for _, tpl := range []*plan.Template{
		{Name: "s", Subject: "{{ .a "},
		{Name: "t", Subject: "ok", Text: "{{ end }}"},
		{Name: "h", Subject: "ok", HTML: "{{ if }}"},
	} {
		if _, err := Compile(tpl); err == nil || !strings.Contains(err.Error(), "template "+tpl.Name) {
			t.Errorf("Compile(%s) error %v", tpl.Name, err)
		}
	}
}

func TestOneLine(t *testing.T) {
	for in, want := range map[string]string{
		"":              "",
		"a b":           "a b",
		" a":            "a",
		"a ":            "a",
		"a  b":          "a b",
		"a\r\nBcc: x":   "a Bcc: x",
		"a\tb":          "a b",
		"Zoë\u00a0Ü":    "Zoë Ü",
		"plain subject": "plain subject",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("oneLine(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkCompiledRender(b *testing.B) {
	c, err := Compile(&plan.Template{
		Name: "t", Subject: "Hi {{ .lead.name | default \"there\" }}",
		HTML: `<p>Hi {{ .lead.name }}</p><a href="{{ .unsubscribe_url }}">u</a>`,
		Text: "Hi {{ .lead.name }}",
	})
	if err != nil {
		b.Fatal(err)
	}
	data := map[string]any{"lead": map[string]any{"name": "Zoë"}, "unsubscribe_url": "https://x.example/u/t"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(data); err != nil {
			b.Fatal(err)
		}
	}
}
