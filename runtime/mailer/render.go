package mailer

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"strings"
	"sync"
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

// Compiled is a template parsed once, ready to render for many contacts. It is
// safe for concurrent use.
type Compiled struct {
	name    string
	subject *texttemplate.Template // nil when the source is empty
	text    *texttemplate.Template
	html    *htmltemplate.Template
}

// Compile parses t's subject, text and HTML. The engine compiles each template
// once per plan revision; parsing per message would dominate the send path.
func Compile(t *plan.Template) (*Compiled, error) {
	c := &Compiled{name: t.Name}
	var err error
	if c.subject, err = parseText(t.Name+".subject", t.Subject); err != nil {
		return nil, err
	}
	if c.text, err = parseText(t.Name+".text", t.Text); err != nil {
		return nil, err
	}
	if t.HTML != "" {
		c.html, err = htmltemplate.New(t.Name + ".html").Funcs(Funcs).Option("missingkey=zero").Parse(t.HTML)
		if err != nil {
			return nil, fmt.Errorf("template %s: html: %w", t.Name, err)
		}
	}
	return c, nil
}

func parseText(name, src string) (*texttemplate.Template, error) {
	if src == "" {
		return nil, nil
	}
	tpl, err := texttemplate.New(name).Funcs(Funcs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	return tpl, nil
}

var renderBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledRender is the largest buffer Render returns to renderBufs, so one
// huge message does not pin its buffer.
const maxPooledRender = 1 << 20

// Render renders the template with data. Missing keys render through default's
// fallback or as empty, never as "<no value>"; the subject is collapsed to one
// line so newlines in contact data cannot inject headers.
//
// The three parts are executed into one pooled buffer and converted to a
// single string that the parts share.
func (c *Compiled) Render(data map[string]any) (Rendered, error) {
	b := renderBufs.Get().(*bytes.Buffer)
	defer func() {
		if b.Cap() <= maxPooledRender {
			renderBufs.Put(b)
		}
	}()
	b.Reset()
	if err := execText(b, c.subject, data); err != nil {
		return Rendered{}, err
	}
	subjectEnd := b.Len()
	if err := execText(b, c.text, data); err != nil {
		return Rendered{Subject: oneLine(string(b.Bytes()[:subjectEnd]))}, err
	}
	textEnd := b.Len()
	if c.html != nil {
		if err := c.html.Execute(b, data); err != nil {
			return Rendered{Subject: oneLine(string(b.Bytes()[:subjectEnd])), Text: string(b.Bytes()[subjectEnd:textEnd])},
				fmt.Errorf("template %s: html: %w", c.name, err)
		}
	}
	all := b.String()
	return Rendered{Subject: oneLine(all[:subjectEnd]), Text: all[subjectEnd:textEnd], HTML: all[textEnd:]}, nil
}

// Render renders t with data; see Compiled.Render. It parses t on every call:
// use Compile to render one template many times.
func Render(t *plan.Template, data map[string]any) (Rendered, error) {
	c, err := Compile(t)
	if err != nil {
		return Rendered{}, err
	}
	return c.Render(data)
}

// execText appends tpl's output to b, without "<no value>" for missing keys.
func execText(b *bytes.Buffer, tpl *texttemplate.Template, data map[string]any) error {
	if tpl == nil {
		return nil
	}
	start := b.Len()
	if err := tpl.Execute(b, data); err != nil {
		return fmt.Errorf("template %s: %w", tpl.Name(), err)
	}
	if out := b.Bytes()[start:]; bytes.Contains(out, noValue) {
		clean := bytes.ReplaceAll(out, noValue, nil)
		b.Truncate(start)
		b.Write(clean)
	}
	return nil
}

var noValue = []byte("<no value>")

// oneLine collapses runs of white space (including line breaks) to one space
// and trims the ends, allocating only when something changes.
func oneLine(s string) string {
	clean := true
	prevSpace := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		space := c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c >= 0x80
		if space && (c != ' ' || prevSpace || c >= 0x80) {
			clean = false
			break
		}
		prevSpace = space
	}
	if clean && !prevSpace {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
