package hclsrc

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/campaignctl/campaignctl/compiler/ir"
)

// This file reads attribute values. Each reader returns nil when the attribute is
// absent, and a value marked Invalid when it is written but cannot be read (the
// error is recorded), so the checker neither reports it missing nor looks at it.

// fileAttrs are the attributes whose value may be read from a file with file():
// CEL conditions and template texts, which grow long.
const fileAttrs = "filter, default_filter, goal, if, subject, html and text"

// str reads a string attribute. allowFile permits file("path").
func (p *parser) str(attr *hcl.Attribute, allowFile bool) *ir.String {
	if attr == nil {
		return nil
	}
	s := p.readString(attr.Name, attr.Expr, allowFile)
	if s == nil {
		return &ir.String{Range: p.rng(attr.Expr.Range()), Invalid: true}
	}
	return s
}

func (p *parser) readString(name string, expr hcl.Expression, allowFile bool) *ir.String {
	rng := p.rng(expr.Range())
	if call, ok := expr.(*hclsyntax.FunctionCallExpr); ok {
		switch {
		case !allowFile:
			p.errorAt(rng, "%s must be a quoted string, not a function call", name).detail(
				"Only %s may call file().", fileAttrs)
			return nil
		case call.Name != "file":
			p.errorAt(p.rng(call.NameRange), "unknown function %q; the only function is file(\"path\")", call.Name)
			return nil
		}
		return p.file(name, call)
	}
	if _, ok := expr.(*hclsyntax.ScopeTraversalExpr); ok || isOperation(expr) {
		// filter = lead.active: CEL written without quotes reads to HCL as its own
		// expression language. Say how to write it rather than "Variables not
		// allowed".
		d := p.errorAt(rng, "%s must be a quoted string", name)
		if allowFile {
			d.detail(`Write the expression in quotes, %s = "...", or as a heredoc: %s = <<-EOT, the lines, then EOT.`, name, name)
		} else {
			d.detail(`Write %s = %q.`, name, string(p.src[rng.Start.Byte:rng.End.Byte]))
		}
		return nil
	}
	v, hd := expr.Value(nil)
	if hd.HasErrors() {
		p.hclDiags(hd)
		return nil
	}
	if !p.checkType(name, rng, v, cty.String) {
		return nil
	}
	s := &ir.String{Value: v.AsString(), Range: rng}
	r := expr.Range()
	if r.Start.Byte >= 0 && r.End.Byte <= len(p.src) && r.Start.Byte <= r.End.Byte {
		if value, spans, ok := decodeLiteral(p.lines, p.filename, p.src[r.Start.Byte:r.End.Byte], r.Start.Byte); ok && value == s.Value {
			s.Spans = spans
		}
	}
	return s
}

// isOperation reports whether e is an HCL operator expression (a && b, a == b,
// !a), which is how unquoted CEL parses.
func isOperation(e hcl.Expression) bool {
	switch e.(type) {
	case *hclsyntax.BinaryOpExpr, *hclsyntax.UnaryOpExpr, *hclsyntax.RelativeTraversalExpr, *hclsyntax.IndexExpr:
		return true
	}
	return false
}

// literal evaluates an attribute that must be a literal of type want, reporting
// why not. ok is false when the value cannot be used.
func (p *parser) literal(attr *hcl.Attribute, want cty.Type) (cty.Value, ir.Range, bool) {
	rng := p.rng(attr.Expr.Range())
	v, hd := attr.Expr.Value(nil)
	if hd.HasErrors() {
		p.hclDiags(hd)
		return cty.NilVal, rng, false
	}
	return v, rng, p.checkType(attr.Name, rng, v, want)
}

// boolean reads a bool attribute.
func (p *parser) boolean(attr *hcl.Attribute) *ir.Bool {
	if attr == nil {
		return nil
	}
	v, rng, ok := p.literal(attr, cty.Bool)
	if !ok {
		return &ir.Bool{Range: rng, Invalid: true}
	}
	return &ir.Bool{Value: v.True(), Range: rng}
}

// Whole numbers are kept within what a JSON reader anywhere reads exactly.
const maxWhole = 1 << 53

// integer reads a whole-number attribute.
func (p *parser) integer(attr *hcl.Attribute) *ir.Int {
	if attr == nil {
		return nil
	}
	v, rng, ok := p.literal(attr, cty.Number)
	if !ok {
		return &ir.Int{Range: rng, Invalid: true}
	}
	bf := v.AsBigFloat()
	i, acc := bf.Int64()
	if !bf.IsInt() || acc != big.Exact || i > maxWhole || i < -maxWhole {
		d := p.errorAt(rng, "%s must be a whole number, not %s", attr.Name, bf.Text('g', 10))
		if rounded, _ := bf.Int64(); bf.IsInt() || rounded > maxWhole || rounded < -maxWhole {
			d.detail("Write a smaller number.")
		} else {
			d.detail("Write a whole number, e.g. %s = %d.", attr.Name, rounded)
		}
		return &ir.Int{Range: rng, Invalid: true}
	}
	return &ir.Int{Value: i, Range: rng}
}

func wholeExample(name string) string {
	if strings.Contains(name, "percent") {
		return "20"
	}
	return "3"
}

// number reads a number attribute.
func (p *parser) number(attr *hcl.Attribute) *ir.Float {
	if attr == nil {
		return nil
	}
	v, rng, ok := p.literal(attr, cty.Number)
	if !ok {
		return &ir.Float{Range: rng, Invalid: true}
	}
	f, _ := v.AsBigFloat().Float64()
	if f > 1e15 || f < -1e15 {
		p.errorAt(rng, "%s is out of range: %s", attr.Name, v.AsBigFloat().Text('g', 10))
		return &ir.Float{Range: rng, Invalid: true}
	}
	return &ir.Float{Value: f, Range: rng}
}

// scalarText reads an attribute that is stored as text but may be written as a
// string, a number or a bool (value = true in a set_property step): numbers and
// bools become their canonical text.
func (p *parser) scalarText(attr *hcl.Attribute) *ir.String {
	if attr == nil {
		return nil
	}
	if _, ok := attr.Expr.(*hclsyntax.LiteralValueExpr); ok {
		v, hd := attr.Expr.Value(nil)
		rng := p.rng(attr.Expr.Range())
		switch {
		case hd.HasErrors():
		case v.Type() == cty.Bool:
			return &ir.String{Value: fmt.Sprint(v.True()), Range: rng}
		case v.Type() == cty.Number:
			return &ir.String{Value: v.AsBigFloat().Text('f', -1), Range: rng}
		}
	}
	return p.str(attr, false)
}

// strList reads a list of strings, each element with its own range.
func (p *parser) strList(attr *hcl.Attribute) *ir.StringList {
	if attr == nil {
		return nil
	}
	rng := p.rng(attr.Expr.Range())
	tuple, ok := attr.Expr.(*hclsyntax.TupleConsExpr)
	if !ok {
		d := p.errorAt(rng, "%s must be a list of strings", attr.Name)
		if _, isTemplate := attr.Expr.(*hclsyntax.TemplateExpr); isTemplate {
			d.detail(`Put the value in brackets: %s = [%s].`, attr.Name, string(p.src[rng.Start.Byte:rng.End.Byte]))
		} else {
			d.detail(`Write %s = ["...", "..."].`, attr.Name)
		}
		return &ir.StringList{Range: rng, Invalid: true}
	}
	l := &ir.StringList{Range: rng, Values: []*ir.String{}}
	for _, e := range tuple.Exprs {
		s := p.readString("each element of "+attr.Name, e, false)
		if s == nil {
			l.Invalid = true
			continue
		}
		l.Values = append(l.Values, s)
	}
	return l
}

func (p *parser) checkType(name string, rng ir.Range, v cty.Value, want cty.Type) bool {
	switch {
	case v.IsNull():
		p.errorAt(rng, "%s must not be null; remove the line to leave it unset", name)
	case !v.IsKnown():
		// Without variables, only an expression HCL could not parse (and has
		// reported) is unknown; say something only if nothing was said.
		if !p.diags.HasErrors() {
			p.errorAt(rng, "%s must be a literal %s", name, want.FriendlyName())
		}
	case !v.Type().Equals(want):
		d := p.errorAt(rng, "%s must be a %s, not a %s", name, want.FriendlyName(), v.Type().FriendlyName())
		switch {
		case strings.HasPrefix(name, "each element of "):
			d.detail(`Quote every element: ["...", "..."].`)
		case want == cty.Bool:
			d.detail("Write %s = true or %s = false, without quotes.", name, name)
		case want == cty.Number && v.Type() == cty.String && isNumeral(v.AsString()):
			d.detail("Write %s = %s, without quotes.", name, strings.TrimSpace(v.AsString()))
		case want == cty.Number:
			d.detail("Write a number, e.g. %s = %s.", name, wholeExample(name))
		default:
			d.detail(`Write %s = "...".`, name)
		}
	default:
		return true
	}
	return false
}

func isNumeral(s string) bool {
	_, ok := new(big.Float).SetString(strings.TrimSpace(s))
	return ok
}
