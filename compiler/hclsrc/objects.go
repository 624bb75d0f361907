package hclsrc

import (
	"fmt"
	"reflect"
	"sort"
	"sync"

	"github.com/hashicorp/hcl/v2"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// This file maps each block of the language onto its IR object. The body
// schema of each block and the reading of its members are derived from the
// members the IR struct declares (ir.Members): one declaration per attribute.
// HCL itself reports an unknown name (with a suggestion), a missing label and
// a duplicated attribute.

func labeled(kind string) hcl.BlockHeaderSchema {
	return hcl.BlockHeaderSchema{Type: kind, LabelNames: []string{"name"}}
}

var rootSchema = func() *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, k := range ir.Kinds {
		s.Blocks = append(s.Blocks, labeled(k.Name))
	}
	return s
}()

// bodySchema is the schema of a block whose members are ms: attributes and
// nested blocks in declaration order, which is the order HCL tries them in
// for "did you mean".
func bodySchema(ms []ir.Member) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, m := range ms {
		switch m.Form {
		case ir.FormBlock:
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: m.Name})
		case ir.FormBlocks:
			s.Blocks = append(s.Blocks, labeled(m.Name))
		default:
			s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: m.Name})
		}
	}
	return s
}

var (
	schemas    sync.Map // reflect.Type of an IR struct → *hcl.BodySchema
	stepSchema = bodySchema(ir.StepMembers())
)

func schemaOf(t reflect.Type) *hcl.BodySchema {
	if s, ok := schemas.Load(t); ok {
		return s.(*hcl.BodySchema)
	}
	s, _ := schemas.LoadOrStore(t, bodySchema(ir.Members(t)))
	return s.(*hcl.BodySchema)
}

// content decodes a block body against its schema, reporting what HCL finds.
func (p *parser) content(body hcl.Body, schema *hcl.BodySchema) *hcl.BodyContent {
	c, hd := body.Content(schema)
	p.hclDiags(hd)
	if c == nil {
		c = &hcl.BodyContent{Attributes: hcl.Attributes{}}
	}
	return c
}

// blocks returns the blocks of one type, in source order, skipping those with a
// wrong label count (HCL has reported them).
func blocks(c *hcl.BodyContent, typ string, labels int) []*hcl.Block {
	var out []*hcl.Block
	for _, b := range c.Blocks {
		if b.Type == typ && len(b.Labels) == labels {
			out = append(out, b)
		}
	}
	return out
}

// single returns the one block of a type that may appear at most once, reporting
// any further ones.
func (p *parser) single(c *hcl.BodyContent, typ, owner string) *hcl.Block {
	bs := blocks(c, typ, 0)
	for _, extra := range bs[min(len(bs), 1):] {
		p.errorAt(p.rng(extra.DefRange), "%s has more than one %s block", owner, typ).detail(
			"The first is at %s; merge them into one.", p.rng(bs[0].DefRange))
	}
	if len(bs) == 0 {
		return nil
	}
	return bs[0]
}

func describe(kind string, b *hcl.Block) string { return fmt.Sprintf("%s %q", kind, b.Labels[0]) }

// object reads one top-level block of a kind.
func (p *parser) object(k ir.Kind, b *hcl.Block) {
	obj := k.New()
	ir.SetHeader(obj, p.name(b), p.rng(b.DefRange))
	p.read(obj, b.Body, describe(k.Name, b))
	k.Add(p.cfg, obj)
}

// read fills obj, a pointer to an IR struct whose header is set, from body,
// as the struct's members declare. owner names the block in messages.
func (p *parser) read(obj reflect.Value, body hcl.Body, owner string) {
	s := obj.Elem()
	c := p.content(body, schemaOf(s.Type()))
	p.members(s, ir.Members(s.Type()), c, owner)
}

func (p *parser) members(s reflect.Value, ms []ir.Member, c *hcl.BodyContent, owner string) {
	for _, m := range ms {
		f := s.FieldByIndex(m.Field.Index)
		a := c.Attributes[m.Name]
		switch m.Form {
		case ir.FormString:
			f.Set(reflect.ValueOf(p.str(a, m.File)))
		case ir.FormBool:
			f.Set(reflect.ValueOf(p.boolean(a)))
		case ir.FormInt:
			f.Set(reflect.ValueOf(p.integer(a)))
		case ir.FormFloat:
			f.Set(reflect.ValueOf(p.number(a)))
		case ir.FormStringList:
			f.Set(reflect.ValueOf(p.strList(a)))
		case ir.FormBlock:
			if b := p.single(c, m.Name, owner); b != nil {
				f.Set(p.block(m, b, ir.Name{}, owner))
			}
		case ir.FormBlocks:
			for _, b := range blocks(c, m.Name, 1) {
				f.Set(reflect.Append(f, p.block(m, b, p.name(b), owner)))
			}
		}
	}
}

// block reads the nested block b of member m into a new IR struct. owner
// names the enclosing block; a named block is named in messages after it.
func (p *parser) block(m ir.Member, b *hcl.Block, name ir.Name, owner string) reflect.Value {
	if m.Custom {
		switch m.Name {
		case "bypass":
			return reflect.ValueOf(p.bypass(b))
		case "step":
			return reflect.ValueOf(p.step(b, owner))
		}
		panic("hclsrc: no reader for the custom member " + m.Name)
	}
	if m.Form == ir.FormBlocks && hasSingleBlocks(m.Elem()) {
		// Only a block that appears once says who owns it (in "has more
		// than one" messages), so only then is the name worth building.
		owner += ": " + describe(m.Name, b)
	}
	v := reflect.New(m.Elem())
	ir.SetHeader(v, name, p.rng(b.DefRange))
	p.read(v, b.Body, owner)
	return v
}

// hasSingleBlocks reports whether the IR struct t has a nested block that
// may appear at most once.
func hasSingleBlocks(t reflect.Type) bool {
	for _, m := range ir.Members(t) {
		if m.Form == ir.FormBlock {
			return true
		}
	}
	return false
}

// bypass reads `bypass { transactional = [...] }`: one attribute per mail class.
// The class names are not fixed here: the schema says which exist, with a
// suggestion for a typo.
func (p *parser) bypass(b *hcl.Block) *ir.Bypass {
	out := &ir.Bypass{DeclRange: p.rng(b.DefRange)}
	as, hd := b.Body.JustAttributes()
	p.hclDiags(hd)
	list := make([]*hcl.Attribute, 0, len(as))
	for _, a := range as {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].NameRange.Start.Byte < list[j].NameRange.Start.Byte })
	for _, a := range list {
		out.Classes = append(out.Classes, &ir.BypassClass{
			Class: ir.Name{Value: a.Name, Range: p.rng(a.NameRange)},
			Rules: p.strList(a),
		})
	}
	return out
}

// step reads one workflow step through the step resolver both front ends
// share (ir.ReadStep).
func (p *parser) step(b *hcl.Block, workflow string) *ir.Step {
	st := &ir.Step{Name: p.name(b), DeclRange: p.rng(b.DefRange)}
	owner := workflow + ": " + describe("step", b)
	src := &hclStep{p: p, owner: owner, c: p.content(b.Body, stepSchema)}
	src.engagement = p.single(src.c, "engagement", owner)
	ir.ReadStep(src, st, owner)
	return st
}

// hclStep is a step's body as the step resolver reads it.
type hclStep struct {
	p          *parser
	owner      string
	c          *hcl.BodyContent
	engagement *hcl.Block
}

func (s *hclStep) Assign() string { return " = " }

func (s *hclStep) Has(member string) bool {
	if member == "engagement" {
		return s.engagement != nil
	}
	return s.c.Attributes[member] != nil
}

func (s *hclStep) NameRange(member string) ir.Range {
	if member == "engagement" {
		return s.p.rng(s.engagement.TypeRange)
	}
	return s.p.rng(s.c.Attributes[member].NameRange)
}

func (s *hclStep) Str(member string, file bool) *ir.String {
	return s.p.str(s.c.Attributes[member], file)
}
func (s *hclStep) Bool(member string) *ir.Bool          { return s.p.boolean(s.c.Attributes[member]) }
func (s *hclStep) StrList(member string) *ir.StringList { return s.p.strList(s.c.Attributes[member]) }
func (s *hclStep) ScalarText(member string) *ir.String  { return s.p.scalarText(s.c.Attributes[member]) }

// stepBlocks are the step's nested blocks, by name.
var stepBlocks = func() map[string]ir.Member {
	out := map[string]ir.Member{}
	for _, m := range ir.StepMembers() {
		if m.IsBlock() {
			out[m.Name] = m
		}
	}
	return out
}()

func (s *hclStep) Engagement() *ir.Engagement {
	return s.p.block(stepBlocks["engagement"], s.engagement, ir.Name{}, s.owner).Interface().(*ir.Engagement)
}

func (s *hclStep) ABTest() *ir.ABTest {
	b := s.p.single(s.c, "ab_test", s.owner)
	if b == nil {
		return nil
	}
	return s.p.block(stepBlocks["ab_test"], b, ir.Name{}, s.owner).Interface().(*ir.ABTest)
}

func (s *hclStep) Error(at ir.Range, detail, summary string) {
	s.p.errorAt(at, "%s", summary).d.Detail = detail
}
