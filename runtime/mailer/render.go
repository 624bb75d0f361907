package mailer

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	texttemplate "text/template"

	"github.com/campaignctl/campaignctl/compiler/plan"
)

// Funcs are the functions templates may call. The compiler parses templates with
// the same names, so a template that compiles also renders.
var Funcs = map[string]any{
	// default returns fallback when value is missing or empty:
	// {{ .lead.name | default "there" }}.
	"default": func(fallback string, value any) any {
		switch v := value.(type) {
		case nil:
			return fallback
		case string:
			if strings.TrimSpace(v) == "" {
				return fallback
			}
		}
		return value
	},
}

// Rendered is a template rendered for one contact.
type Rendered struct {
	Subject string
	HTML    string
	Text    string
}

// Render renders t with data. Missing keys render through default's fallback or as
// empty, never as "<no value>".
func Render(t *plan.Template, data map[string]any) (Rendered, error) {
	var out Rendered
	var err error
	if out.Subject, err = renderText(t.Name+".subject", t.Subject, data); err != nil {
		return out, err
	}
	// A subject is one header line: newlines from contact data must not inject
	// headers.
	out.Subject = strings.Join(strings.Fields(out.Subject), " ")
	if out.Text, err = renderText(t.Name+".text", t.Text, data); err != nil {
		return out, err
	}
	if t.HTML != "" {
		tpl, err := htmltemplate.New(t.Name + ".html").Funcs(Funcs).Option("missingkey=zero").Parse(t.HTML)
		if err != nil {
			return out, fmt.Errorf("template %s: html: %w", t.Name, err)
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, data); err != nil {
			return out, fmt.Errorf("template %s: html: %w", t.Name, err)
		}
		out.HTML = b.String()
	}
	return out, nil
}

func renderText(name, src string, data map[string]any) (string, error) {
	if src == "" {
		return "", nil
	}
	tpl, err := texttemplate.New(name).Funcs(Funcs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	return strings.ReplaceAll(b.String(), "<no value>", ""), nil
}
