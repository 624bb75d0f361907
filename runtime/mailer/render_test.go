package mailer

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	texttemplate "text/template"

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

// renderBefore is Compiled.Render as it was before the parts shared one
// buffer: the oracle for TestRenderMatchesPrevious.
func renderBefore(c *Compiled, data map[string]any) (Rendered, error) {
	execText := func(tpl *texttemplate.Template) (string, error) {
		if tpl == nil {
			return "", nil
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, data); err != nil {
			return "", fmt.Errorf("template %s: %w", tpl.Name(), err)
		}
		return strings.ReplaceAll(b.String(), "<no value>", ""), nil
	}
	var out Rendered
	var err error
	if out.Subject, err = execText(c.subject); err != nil {
		return out, err
	}
	out.Subject = oneLine(out.Subject)
	if out.Text, err = execText(c.text); err != nil {
		return out, err
	}
	if c.html != nil {
		var b bytes.Buffer
		if err := c.html.Execute(&b, data); err != nil {
			return out, fmt.Errorf("template %s: html: %w", c.name, err)
		}
		out.HTML = b.String()
	}
	return out, nil
}

func TestRenderMatchesPrevious(t *testing.T) {
	templates := []*plan.Template{
		{Name: "a", Subject: "Hi {{ .lead.name }} {{ .missing }}<no value>", Text: "{{ .missing }}x{{ .lead.name }}<no value", HTML: "<p>{{ .missing }}{{ .lead.name }}</p>"},
		{Name: "b", Subject: "  spaced\n{{ .lead.name }}\t", Text: "", HTML: ""},
		{Name: "c", Subject: "", Text: "only text {{ .lead }}", HTML: ""},
		{Name: "d", Subject: "s", Text: "t {{ index .list 5 }}", HTML: "h"},
		{Name: "e", Subject: "s {{ .lead.name }}", Text: "t", HTML: "h {{ index .list 5 }}"},
		{Name: "f", Subject: "{{ index .list 5 }}", Text: "t", HTML: "h"},
		{Name: "g", Subject: "{{ .lead.name | default \"there\" }}", Text: "{{ .missing | default \"x\" }}", HTML: "<a href=\"{{ .url }}\">{{ .missing }}</a>"},
		benchTemplate(),
	}
	datas := []map[string]any{
		{"lead": map[string]any{"name": "Zoë <b>"}, "list": []int{1}, "url": "https://x.example/?a=1&b=2"},
		{"lead": map[string]any{}, "list": []int{1, 2, 3, 4, 5, 6}},
		{"lead": map[string]any{"name": "<no value>"}, "campaign": "c"},
		{},
	}
	for _, tpl := range templates {
		c, err := Compile(tpl)
		if err != nil {
			t.Fatal(err)
		}
		for i, data := range datas {
			got, gotErr := c.Render(data)
			want, wantErr := renderBefore(c, data)
			if got != want || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%s data %d:\n got %+v, %v\nwant %+v, %v", tpl.Name, i, got, gotErr, want, wantErr)
			}
		}
	}
}
