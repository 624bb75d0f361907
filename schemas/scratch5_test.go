package schemas

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"cuelang.org/go/cue"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func measure(name string, n int, f func()) {
	f()
	best := time.Duration(1 << 62)
	for range 5 {
		c0 := cpuTime()
		for range n {
			f()
		}
		if d := (cpuTime() - c0) / time.Duration(n); d < best {
			best = d
		}
	}
	fmt.Printf("%-28s %8.0f µs cpu/op\n", name, float64(best.Microseconds()))
}

func TestCPU(t *testing.T) {
	if os.Getenv("CPU") == "" {
		t.Skip()
	}
	ev, _ := newEvaluator()
	in := mustJSON(t, loadWorkflow(t, "customer_satisfaction"))
	tree, _ := decodeInput(in)
	s := ev.types["customer_satisfaction"]
	e, _ := toExpr(tree)
	data := ev.ctx.BuildExpr(e)
	measure("complete", 200, func() { Complete("workflow", in) })
	measure("unify+validate", 200, func() {
		u := s.strict.Unify(data)
		u.Validate(cue.Concrete(true), cue.Final())
	})
	measure("unify only", 200, func() { s.strict.Unify(data) })
	u := s.strict.Unify(data)
	u.Validate(cue.Concrete(true), cue.Final())
	measure("validate only", 200, func() { u.Validate(cue.Concrete(true), cue.Final()) })
	tiny := ev.ctx.CompileString("{a: int, b: string}")
	td := ev.ctx.CompileString("{a: 1, b: \"x\"}")
	measure("tiny unify", 2000, func() { tiny.Unify(td) })
	shape := ev.root.LookupPath(cue.ParsePath("#WorkflowShape"))
	measure("shape unify", 200, func() { shape.Unify(data) })
	step := ev.root.LookupPath(cue.ParsePath("#Step"))
	sd := ev.ctx.CompileString(`{name: "x", kind: "send", template: "t"}`)
	measure("step unify", 1000, func() { step.Unify(sd) })
	stepShape := ev.root.LookupPath(cue.ParsePath("#StepShape"))
	measure("stepshape unify", 1000, func() { stepShape.Unify(sd) })
	measure("canonical(validated u)", 200, func() { canonicalJSON(u) })
	measure("unify+marshal", 200, func() { s.strict.Unify(data).MarshalJSON() })
	tin := []byte(`{"name":"t","subject":"s","text":"x"}`)
	measure("complete template", 500, func() { Complete("template", tin) })
}
