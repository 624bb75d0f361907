package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/campaignctl/campaignctl/internal/racetest"
	"github.com/campaignctl/campaignctl/internal/testbin"
	"github.com/campaignctl/campaignctl/internal/testlog"
)

// builtBinary is this package built once per test run, shared by the tests
// that run the daemon as a process of its own; TestMain removes it.
var builtBinary struct {
	once      sync.Once
	dir, path string
	out       []byte
	err       error
}

// TestMain also makes this test binary answer to the name campaignctl, for
// the txtar scripts (script_test.go): testscript.Main runs main() when the
// binary is started as campaignctl, and the tests otherwise.
func TestMain(m *testing.M) {
	testscript.Main(cleanupM{m}, map[string]func(){"campaignctl": main})
}

// cleanupM runs the tests, then removes the daemon binary built for them
// (testscript.Main exits with Run's code, so the cleanup lives in Run).
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if builtBinary.dir != "" {
		os.RemoveAll(builtBinary.dir)
	}
	return code
}

// buildKillBinary returns this package built as a program, for tests that
// need the daemon as a process of its own (to scrape it, signal it or kill
// it). It is built once per test run, however many tests ask; under make
// test, once for the whole run ($CAMPAIGNCTL_TEST_BINARY).
func buildKillBinary(t *testing.T) string {
	t.Helper()
	// scripts/test.sh builds the binary from the same tree before the tests
	// start and names it here: this package's two test binaries (with and
	// without -race) and cmd/chaos then link it once instead of three times.
	if p := testbin.Prebuilt(t); p != "" {
		return p
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH (%v); add its bin directory (e.g. /usr/local/go/bin) to PATH", err)
	}
	b := &builtBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "campaignctl-test-bin-"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "campaignctl")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		b.out, b.err = exec.CommandContext(ctx, goTool, "build", "-o", b.path, ".").CombinedOutput()
	})
	if b.err != nil {
		t.Fatalf("go build -o %s .: %v\n%s", b.path, b.err, b.out)
	}
	return b.path
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a program a test runs as a process of its own (the built
// daemon, Prometheus): its output is collected, and when the test ends it
// gets SIGTERM, then SIGKILL past its grace.
type process struct {
	cmd   *exec.Cmd
	logs  *testlog.Buffer
	done  chan struct{}
	err   error // cmd.Wait's, once done is closed
	grace time.Duration
}

// startProcess starts bin with args; env, when not nil, is its whole
// environment (nil: the test's).
func startProcess(t *testing.T, grace time.Duration, env []string, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), logs: &testlog.Buffer{}, done: make(chan struct{}), grace: grace}
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.stop() })
	return p
}

// stop sends SIGTERM, waits up to the grace (then kills) and returns how the
// process ended, or an error saying it had to be killed. Stopping twice is
// harmless.
func (p *process) stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(p.grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("did not exit within %s of SIGTERM; killed", p.grace)
	}
}

// output returns what the process wrote so far.
func (p *process) output() string { return p.logs.String() }

// skipInShortMode skips a test that starts real servers for tens of seconds
// under `make test-short`, the inner loop; `make test` (and CI) runs it.
func skipInShortMode(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("slow end-to-end test: skipped by make test-short; make test runs it")
	}
}

// wholePlanRacedBy names the tests that run, under -race, what a whole-plan
// daemon test runs: the engine over the examples' workflows and sequence
// (runtime/engine), several engines on one outbox (runtime/engine), and serve's
// own wiring in this process (this package's in-process serve tests).
const wholePlanRacedBy = "runtime/engine's TestEveryExampleWorkflowRunsFromItsRealTrigger and TestSeedNurtureRunsExactlyAsWritten (the examples' workflows and sequence), " +
	"TestSlowRelayThreeReplicasSendEachMessageOnce and TestWeeklyRecurrenceEndsAndReplicasNeverDuplicate (replicas), " +
	"and this package's TestServeRefusesMarketingPlanWithoutPublicURL, TestOptInPolicyHoldsBackMarketingMailWithoutConsent and TestContactExportAndForget (serve in this process)"

// racedElsewhere skips t under the race detector. It is for a whole-plan
// end-to-end test whose concurrent code (the daemon's send pipeline,
// reconcile and advance loops over the same plan) the tests named in by run
// under -race already, and whose own assertions do not depend on timing (the
// grants a role needs, say): the race detector would spend half a minute of
// CPU on it to look at the same goroutines again. make test runs it without
// -race (plain_also in scripts/test.sh).
func racedElsewhere(t *testing.T, by string) {
	t.Helper()
	racetest.Skip(t, "runs without -race (scripts/test.sh, plain_also); "+by+" run the same daemon code under -race")
}

// ownProcess skips t under the race detector. It is for a test whose
// commands run in processes of their own, built without -race: a daemon
// started with buildKillBinary, or the command lines of a script. The race
// detector would then watch only this test's harness (the capture relay,
// HTTP and SMTP clients), whose packages race their own code, at two to
// four times the CPU. make test runs it without -race (plain_also in
// scripts/test.sh); the daemon's concurrent code is raced in this process
// by the tests wholePlanRacedBy names.
func ownProcess(t *testing.T) {
	t.Helper()
	racetest.Skip(t, "runs without -race (scripts/test.sh, plain_also): what it tests runs in processes of its own, built without -race")
}
