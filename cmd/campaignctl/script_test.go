package main

import (
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// CLI scenarios as txtar scripts (testdata/script/*.txtar), one file per
// user-visible behaviour: each script holds the campaigns files it needs and
// the commands a user types, with their exit codes and output. The scripts
// run the real command line: TestMain (binary_test.go) makes this test binary
// answer to the name campaignctl, so `exec campaignctl validate .` in a
// script runs main() in a process of its own, as a user's shell would.

func TestScripts(t *testing.T) {
	ownProcess(t)
	t.Parallel()
	testscript.Run(t, testscript.Params{Dir: "testdata/script"})
}
