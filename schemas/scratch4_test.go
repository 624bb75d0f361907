package schemas

import (
	"testing"

	"cuelang.org/go/cue"
)

func BenchmarkPhases(b *testing.B) {
	ev, _ := acquire()
	defer release(ev, false)
	in := loadWorkflow(b, "customer_satisfaction")
	tree, _ := decodeInput(mustJSON(b, in))
	s := ev.types["customer_satisfaction"]
	b.Run("toExpr+Build", func(b *testing.B) {
		for b.Loop() {
			e, _ := toExpr(tree)
			ev.ctx.BuildExpr(e)
		}
	})
	e, _ := toExpr(tree)
	data := ev.ctx.BuildExpr(e)
	b.Run("unify+validate", func(b *testing.B) {
		for b.Loop() {
			u := s.strict.Unify(data)
			u.Validate(cue.Concrete(true), cue.Final())
		}
	})
	b.Run("unify+validate-plain", func(b *testing.B) {
		for b.Loop() {
			u := s.strict.Unify(data)
			u.Validate()
		}
	})
	u := s.strict.Unify(data)
	u.Validate(cue.Concrete(true), cue.Final())
	b.Run("marshal", func(b *testing.B) {
		for b.Loop() {
			u := s.strict.Unify(data)
			u.MarshalJSON()
		}
	})
	b.Run("canonical", func(b *testing.B) {
		for b.Loop() {
			canonicalJSON(u)
		}
	})
	tmpl := ev.kinds["template"]
	td, _ := decodeInput([]byte(`{"name":"t","subject":"s","text":"x"}`))
	te, _ := toExpr(td)
	tdata := ev.ctx.BuildExpr(te)
	b.Run("template-unify+validate", func(b *testing.B) {
		for b.Loop() {
			u := tmpl.strict.Unify(tdata)
			u.Validate(cue.Concrete(true), cue.Final())
		}
	})
}
