// Package testbin names the campaignctl binary that scripts/test.sh builds
// once for a make test run, for the tests that start the daemon as a process
// of its own (cmd/campaignctl's buildKillBinary, cmd/chaos): one link of the
// program per run instead of one per test binary.
package testbin

import (
	"os"
	"testing"
)

// Env is the variable scripts/test.sh sets to the binary's path.
const Env = "CAMPAIGNCTL_TEST_BINARY"

// Prebuilt returns the binary scripts/test.sh built for this run, or "" when
// there is none (the test then builds its own). It fails t when the variable
// names no file.
func Prebuilt(t testing.TB) string {
	t.Helper()
	p := os.Getenv(Env)
	if p == "" {
		return ""
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("$%s: %v (scripts/test.sh sets it to the binary it builds; unset it and the test builds its own)", Env, err)
	}
	return p
}
