// Package arch holds the tests of the repository's architecture: which
// package may import which (DESIGN.md, "Contracts live in compiler/plan").
package arch

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/campaignctl/campaignctl/"

// rules says what a package (by prefix) must not import, directly or not,
// and why. The runtime reads the plan, never the compiler that makes it: a
// runtime package importing compiler/check (say) would interpret the
// language in two places.
var rules = []struct {
	from    string
	allowed func(dep string) bool
	why     string
}{
	{"runtime/", func(dep string) bool {
		return !strings.HasPrefix(dep, "compiler/") || dep == "compiler/plan" || strings.HasPrefix(dep, "compiler/plan/")
	}, "the runtime imports compiler/plan (and its sub-packages) and nothing else of compiler/: contracts live in compiler/plan"},
	{"compiler/", func(dep string) bool {
		return !strings.HasPrefix(dep, "runtime/") && !strings.HasPrefix(dep, "cmd/")
	}, "the compiler is pure: no runtime (database, network), no command"},
	{"schemas", func(dep string) bool {
		return !strings.HasPrefix(dep, "runtime/") && !strings.HasPrefix(dep, "cmd/")
	}, "the schemas are data the compiler checks against"},
	{"internal/", func(dep string) bool {
		return !strings.HasPrefix(dep, "runtime/") && !strings.HasPrefix(dep, "compiler/") && !strings.HasPrefix(dep, "cmd/")
	}, "internal packages are leaves any layer may import"},
}

// TestImportRules checks every package's transitive imports (go list -deps)
// against the rules.
func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "github.com/campaignctl/campaignctl/...").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v (the test needs the go command on PATH)", err)
	}
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		pkg := strings.TrimPrefix(fields[0], module)
		for _, r := range rules {
			if !strings.HasPrefix(pkg, r.from) {
				continue
			}
			checked++
			for _, dep := range fields[1:] {
				if !strings.HasPrefix(dep, module) {
					continue
				}
				if d := strings.TrimPrefix(dep, module); !r.allowed(d) {
					t.Errorf("%s imports %s: %s", pkg, d, r.why)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked: go list did not list the module", checked)
	}
}
