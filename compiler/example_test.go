package compiler_test

import (
	"fmt"
	"os"
	"testing/fstest"

	"github.com/campaignctl/campaignctl/compiler"
	"github.com/campaignctl/campaignctl/compiler/diag"
)

// Compile takes any fs.FS — os.DirFS("campaigns") in the CLI, a map in tests —
// and returns a plan or diagnostics; the text renderer quotes the source.
func ExampleCompile() {
	fsys := fstest.MapFS{
		"leads.hcl": {Data: []byte(`model "lead" {
  table = "crm_lead"
  key   = "id"
  email = "email"
  field "stage" { type = "string" }
}

segment "won" {
  model  = "lead"
  filter = <<-CEL
    lead.stage == "Won"
    || lead.stge == "Closed"
  CEL
}
`)},
	}
	p, ds := compiler.Compile(fsys, compiler.Options{})
	fmt.Println("plan:", p != nil)
	_ = diag.WriteText(os.Stdout, ds, diag.ReadSources(fsys, ds))
	// Output:
	// plan: false
	// leads.hcl:12:8: error: filter of segment "won": model lead has no field "stge"; did you mean "stage"?
	//   12 |     || lead.stge == "Closed"
	//      |        ^~~~~~~~~
	//   Fields of lead: stage.
}
