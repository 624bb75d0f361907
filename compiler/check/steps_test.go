package check

import (
	"fmt"
	"strings"
	"testing"

	"github.com/campaignctl/campaignctl/compiler/ir"
	"github.com/campaignctl/campaignctl/compiler/plan"
)

// steps builds workflow steps from a compact description, one step per entry:
// "name kind [next=x] [then=x] [else=x]". Each reference gets its own range (its
// step's index as the line) so diagnostics can be told apart.
func steps(t *testing.T, specs ...string) []*ir.Step {
	t.Helper()
	var out []*ir.Step
	for i, spec := range specs {
		f := strings.Fields(spec)
		line := i + 1
		rng := ir.Range{Filename: "w.hcl", Start: ir.Pos{Line: line, Column: 1, Byte: line * 100}, End: ir.Pos{Line: line, Column: 2, Byte: line*100 + 1}}
		s := &ir.Step{Name: ir.Name{Value: f[0], Range: rng}, DeclRange: rng, Kind: &ir.String{Value: f[1], Range: rng}}
		for _, kv := range f[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("bad spec %q", spec)
			}
			ref := &ir.String{Value: v, Range: rng}
			switch k {
			case "next":
				s.Next = ref
			case "then":
				s.Then = ref
			case "else":
				s.Else = ref
			}
		}
		out = append(out, s)
	}
	return out
}

func graphOf(t *testing.T, specs ...string) (*stepGraph, *checker) {
	t.Helper()
	c := newChecker(&ir.Config{}, nil)
	g := newStepGraph(steps(t, specs...))
	g.build(c, "workflow \"w\"")
	return g, c
}

func TestStepGraphCycles(t *testing.T) {
	cases := []struct {
		name  string
		specs []string
		want  []string // each loop as "a→b→c"
	}{
		{"straight line", []string{"a wait", "b send", "c exit"}, nil},
		{"forward jumps", []string{"a branch then=c", "b send next=d", "c send", "d exit"}, nil},
		{"self loop", []string{"a wait next=a"}, []string{"a"}},
		{"back jump", []string{"a send", "b wait", "c branch then=a else=d", "d exit"}, []string{"a→b→c"}},
		{"two loops", []string{"a wait", "b send next=a", "c wait", "d send next=c"}, []string{"a→b", "c→d"}},
		// Falling through from the last step ends the workflow: no loop.
		{"fall through the end", []string{"a branch then=b", "b send"}, nil},
		// A branch's next is where then and else go when they are left out
		// (as flow.CompileWorkflow runs it), not the following step.
		{"branch next back", []string{"a send", "b branch then=c next=a", "c exit"}, []string{"a→b"}},
		{"branch next both given", []string{"a send", "b branch then=c else=c next=a", "c exit"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, c := graphOf(t, tc.specs...)
			// A warning (a next nothing reads) does not change the graph.
			if errs, _ := c.diags.Count(); errs > 0 {
				t.Fatalf("building: %v", summaries(c.diags))
			}
			var got []string
			for _, cyc := range g.cycles() {
				var names []string
				for _, i := range cyc {
					names = append(names, g.steps[i].Name.Value)
				}
				got = append(got, strings.Join(names, "→"))
				if g.closingJump(cyc) == nil {
					t.Errorf("loop %v has no closing jump", names)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("cycles = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStepGraphLint(t *testing.T) {
	g, c := graphOf(t,
		"hello send next=end",
		"orphan send", // nothing leads here
		"end exit",
		"after_exit wait", // nor here
	)
	g.lint(c, `workflow "w"`)
	var warned []string
	for _, d := range c.diags {
		warned = append(warned, d.Summary)
	}
	want := []string{
		`step "orphan" of workflow "w" is never reached`,
		`step "after_exit" of workflow "w" is never reached`,
	}
	if fmt.Sprint(warned) != fmt.Sprint(want) {
		t.Errorf("lint = %q, want %q", warned, want)
	}

	// A branch without else goes to its next, so the step after it is
	// reached only by a jump.
	g, c = graphOf(t, "check branch then=done next=done", "skipped send", "done exit")
	g.lint(c, `workflow "w"`)
	if got := summaries(c.diags); fmt.Sprint(got) != fmt.Sprint([]string{`step "skipped" of workflow "w" is never reached`}) {
		t.Errorf("branch next: lint = %q", got)
	}

	// A loop is an error reported at the jump back.
	g, c = graphOf(t, "a send", "b wait next=a")
	g.lint(c, `workflow "w"`)
	if len(c.diags) != 1 || !strings.Contains(c.diags[0].Summary, "a → b → a") || c.diags[0].Subject.Start.Line != 2 {
		t.Errorf("loop: %v", summaries(c.diags))
	}
}

func TestStepGraphUnknownTargets(t *testing.T) {
	g, c := graphOf(t, "first branch then=secnd", "second send", "third exit")
	if len(c.diags) != 1 || !strings.Contains(c.diags[0].Summary, `unknown step "secnd"; did you mean "second"?`) {
		t.Fatalf("diagnostics: %v", summaries(c.diags))
	}
	// An unresolved jump leaves the graph incomplete: no unreachable warnings
	// that would only echo the typo.
	g.lint(c, `workflow "w"`)
	if len(c.diags) != 1 {
		t.Errorf("lint added %v", summaries(c.diags[1:]))
	}
}

func TestStepGraphReaches(t *testing.T) {
	g, _ := graphOf(t,
		"mail send",
		"check branch then=done else=other",
		"other send",
		"done exit",
	)
	for _, tc := range []struct {
		from, to int
		want     bool
	}{
		{0, 1, true},  // the branch runs after mail
		{2, 1, false}, // other comes after the branch
		{1, 3, true},
		{3, 0, false}, // exit ends everything
		{0, 0, false}, // a step does not run after itself without a loop
	} {
		if got := g.reaches(tc.from, tc.to); got != tc.want {
			t.Errorf("reaches(%d, %d) = %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestMinWait(t *testing.T) {
	s := &ir.String{Value: "x", Range: ir.Range{Filename: "w.hcl"}}
	for _, tc := range []struct {
		d     string
		class string
		typ   string
		warn  bool
	}{
		{"30m", plan.ClassMarketing, "topic", true},
		{"1h", plan.ClassMarketing, "topic", false},
		{"30m", plan.ClassTransactional, "transactional", false},
		{"12h", plan.ClassMarketing, "re_engagement", true},
		{"1d", plan.ClassMarketing, "re_engagement", false},
		{"1m", "", "topic", false}, // class unknown: say nothing
	} {
		d, err := plan.ParseDuration(tc.d)
		if err != nil {
			t.Fatal(err)
		}
		c := newChecker(&ir.Config{}, nil)
		c.minWait(pendingWait{owner: "step", s: s, d: d, class: sendClass{fixed: tc.class}, typ: tc.typ})
		if got := len(c.diags) == 1; got != tc.warn {
			t.Errorf("%s %s %s: warned %v, want %v (%v)", tc.d, tc.class, tc.typ, got, tc.warn, summaries(c.diags))
		}
	}
}
