package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtpcapture"
)

// testSecret is a link-signing secret long enough for links.NewSigner.
const testSecret = "serve-test-secret-0123456789abcdef"

// runCmd runs campaignctl in-process and returns its exit code, stdout and stderr.
func runCmd(args ...string) (int, string, string) { return env(nil).runCmd(args...) }

// runBounded is runCmd with a time limit: past it the test fails (the command
// keeps running in its goroutine, its output unread).
func runBounded(t *testing.T, limit time.Duration, args ...string) (code int, stdout, stderr string, ok bool) {
	t.Helper()
	return env(nil).runBounded(t, limit, args...)
}

// env is what an in-process serve reads from its environment on top of the
// process's ($CAMPAIGNCTL_SECRET, ...): each test's daemon gets its own
// without t.Setenv, which changes the process's environment and so forbids
// t.Parallel. The other commands read the process's environment.
type env map[string]string

func (e env) getenv(k string) string {
	if v, ok := e[k]; ok {
		return v
	}
	return os.Getenv(k)
}

// procs stands in for runtime.GOMAXPROCS: an in-process daemon reports the
// CPUs it would use (the "daemon started" line) but must not change the
// test binary's.
func (e env) procs(int) int { return runtime.GOMAXPROCS(0) }

// run is main's run, with serve reading e.
func (e env) run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "serve" {
		return serveWithEnv(e.getenv, e.procs, args[1:], stdout, stderr)
	}
	return run(args, stdout, stderr)
}

func (e env) runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := e.run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (e env) mustRun(t *testing.T, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if got := e.run(args, &stdout, &stderr); got != want {
		t.Fatalf("campaignctl %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), got, want, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (e env) runBounded(t *testing.T, limit time.Duration, args ...string) (code int, stdout, stderr string, ok bool) {
	t.Helper()
	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		c, o, se := e.runCmd(args...)
		done <- result{c, o, se}
	}()
	select {
	case r := <-done:
		return r.code, r.stdout, r.stderr, true
	case <-time.After(limit):
		t.Errorf("campaignctl %s: still running after %s", strings.Join(args, " "), limit)
		return 0, "", "", false
	}
}

func TestServeRefusesMarketingPlanWithoutPublicURL(t *testing.T) {
	t.Parallel()
	e := setupE2EOneCampaign(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)

	// No --public-url, no secret: refused at start, before anything is sent.
	noSecret := env{"CAMPAIGNCTL_SECRET": ""}
	start := time.Now()
	code, stdout, stderr, ok := noSecret.runBounded(t, 20*time.Second, serveArgs(e)...)
	if !ok {
		return
	}
	if code != 2 {
		t.Fatalf("serve without --public-url on a marketing plan: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("serve took %s to refuse; want a prompt refusal", d)
	}
	for _, want := range []string{"--public-url", "CAMPAIGNCTL_SECRET"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %s:\n%s", want, stderr)
		}
	}
	if n := e.smtp.Count(); n != 0 {
		t.Fatalf("serve refused to start but %d messages reached the relay", n)
	}

	// --public-url without CAMPAIGNCTL_SECRET: usage error too.
	code, stdout, stderr, ok = noSecret.runBounded(t, 20*time.Second, append(serveArgs(e), "--public-url", "http://mail.test")...)
	if !ok {
		return
	}
	if code != 2 {
		t.Fatalf("serve --public-url without CAMPAIGNCTL_SECRET: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "CAMPAIGNCTL_SECRET") {
		t.Errorf("stderr does not mention CAMPAIGNCTL_SECRET:\n%s", stderr)
	}
	if n := e.smtp.Count(); n != 0 {
		t.Fatalf("serve refused to start but %d messages reached the relay", n)
	}

	// Both: serve sends, and every message carries a working unsubscribe link.
	withSecret := env{"CAMPAIGNCTL_SECRET": testSecret}
	code, stdout, stderr, ok = withSecret.runBounded(t, 2*time.Minute, append(serveArgs(e), "--public-url", "http://mail.test")...)
	if !ok {
		return
	}
	if code != 0 {
		t.Fatalf("serve with --public-url and CAMPAIGNCTL_SECRET: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	msgs := e.smtp.Messages()
	if len(msgs) == 0 {
		t.Fatalf("serve sent nothing\nstderr:\n%s", stderr)
	}
	checkUnsubscribeLinks(t, msgs)
}

// checkUnsubscribeLinks fails unless every message has a List-Unsubscribe
// header with a link under the public URL, and no empty link in its body.
func checkUnsubscribeLinks(t *testing.T, msgs []smtpcapture.Message) {
	t.Helper()
	for _, m := range msgs {
		if !bytes.Contains(m.Data, []byte("\r\nList-Unsubscribe: <http://mail.test/u/")) {
			t.Errorf("message to %v has no List-Unsubscribe: <http://mail.test/u/…> header:\n%s", m.To, headerOf(m.Data))
		}
		// The HTML part is 7bit, or quoted-printable where "=" is written "=3D".
		for _, bad := range []string{`href=""`, `href=3D""`} {
			if bytes.Contains(m.Data, []byte(bad)) {
				t.Errorf("message to %v contains %s", m.To, bad)
			}
		}
	}
}

// headerOf returns the header block of a raw message.
func headerOf(data []byte) string {
	h, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	return string(h)
}

func TestServeClockSpeedNeedsClockStart(t *testing.T) {
	t.Parallel()
	// No database is needed: the flag check comes first. The URL names a
	// closed port so a regression that connects fails fast rather than hangs.
	code, stdout, stderr, ok := runBounded(t, 20*time.Second,
		"serve", "--db", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
		"--smtp", "127.0.0.1:1", "--listen", "", "--clock-speed", "100")
	if !ok {
		return
	}
	if code != 2 {
		t.Fatalf("serve --clock-speed without --clock-start: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "--clock-start") {
		t.Fatalf("stderr does not name --clock-start:\n%s", stderr)
	}
}

// Flags checked before the database is opened (the URL names a closed
// port): --clock-origin needs --clock-start and an instant, --procs a number
// or auto, the --inbound listener's flags the listener, --smtp-user a
// password.
func TestServeFlagErrorsBeforeTheDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--clock-origin", "2026-12-04T05:00:00Z"}, "--clock-origin needs --clock-start"},
		{[]string{"--clock-start", "2026-12-01T08:00:00Z", "--clock-origin", "yesterday"}, `--clock-origin "yesterday": want an RFC 3339 instant`},
		{[]string{"--procs", "0"}, `--procs "0": want auto or a number`},
		// The listener's own flags without the listener would do nothing.
		{[]string{"--inbound-memory-mib", "64"}, "--inbound-memory-mib set the --inbound listener, which this daemon does not start"},
		{[]string{"--inbound-session-max", "30m", "--inbound-memory-mib", "64"}, "--inbound-memory-mib and --inbound-session-max set the --inbound listener"},
		// AUTH with an empty password would only fail at the relay.
		{[]string{"--smtp-user", "mailer"}, `--smtp-user "mailer" needs the password in $CAMPAIGNCTL_SMTP_PASSWORD`},
	} {
		code, stdout, stderr, ok := env{"CAMPAIGNCTL_SMTP_PASSWORD": ""}.runBounded(t, 20*time.Second, append([]string{"serve",
			"--db", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
			"--smtp", "127.0.0.1:1", "--listen", ""}, tc.args...)...)
		if !ok {
			return
		}
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
}

func TestServeLogsTheRealListenPort(t *testing.T) {
	t.Parallel()
	e := setupE2EOneCampaign(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)
	e2 := env{"CAMPAIGNCTL_SECRET": testSecret}

	code, stdout, stderr, ok := e2.runBounded(t, 2*time.Minute,
		append(serveArgs(e), "--listen", "127.0.0.1:0", "--public-url", "http://mail.test")...)
	if !ok {
		return
	}
	if code != 0 {
		t.Fatalf("serve: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var line string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, `msg="serving HTTP"`) {
			line = l
			break
		}
	}
	if line == "" {
		t.Fatalf("no \"serving HTTP\" log line:\n%s", stderr)
	}
	m := regexp.MustCompile(`\baddr=127\.0\.0\.1:(\d+)\b`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("\"serving HTTP\" line has no addr=127.0.0.1:PORT: %s", line)
	}
	if m[1] == "0" {
		t.Fatalf("\"serving HTTP\" logs the requested port 0, not the one bound: %s", line)
	}
}

func TestDatabasePasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	skipInShortMode(t)
	e2 := env{"CAMPAIGNCTL_SECRET": testSecret}
	urls := []string{
		"postgres://app:S3cr3tPw@127.0.0.1:99999x/db",              // bad port
		"postgres://app:S3cr%zzPw@127.0.0.1:1/db",                  // bad escape in the password
		"postgres://app:S3cr#tPw@127.0.0.1:1/db",                   // unescaped # in the password
		"postgres://app:S3c@rtPw@127.0.0.1:1/db",                   // unescaped @ in the password
		"postgres://app:S3cretPw@127.0.0.1:1/db?connect_timeout=2", // well formed, closed port
	}
	// Pieces of every password above, in any form an error might print. "%zz"
	// is the piece net/url quotes in `invalid URL escape "%zz"`, which
	// store.RedactError promises to scrub ("the pieces net/url may print as a
	// port or an escape").
	fragments := []string{"S3c", "tPw", "zPw", "%zz"}
	check := func(t *testing.T, args []string, code int, stdout, stderr string) {
		t.Helper()
		if code == 0 {
			t.Errorf("campaignctl %s: exit 0, want non-zero", strings.Join(args, " "))
		}
		for _, f := range fragments {
			for name, out := range map[string]string{"stdout": stdout, "stderr": stderr} {
				if strings.Contains(out, f) {
					t.Errorf("campaignctl %s: %s shows %q of the password:\n%s", strings.Join(args, " "), name, f, out)
				}
			}
		}
	}

	// serve waits for a database that is not ready (--db-wait, 30 s by
	// default; 2 s here), so its runs go side by side; -short leaves them out.
	runServe := !testing.Short()
	var wg sync.WaitGroup
	var mu sync.Mutex
	type serveResult struct {
		args           []string
		code           int
		stdout, stderr string
		elapsed        time.Duration
	}
	var serveResults []serveResult
	for _, u := range urls {
		if !runServe {
			break
		}
		args := []string{"serve", "--db", u, "--smtp", "127.0.0.1:1", "--public-url", "http://x", "--listen", "", "--db-wait", "2s"}
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, stdout, stderr := e2.runCmd(args...)
			mu.Lock()
			serveResults = append(serveResults, serveResult{args, code, stdout, stderr, time.Since(start)})
			mu.Unlock()
		}()
	}

	for _, u := range urls {
		for _, args := range [][]string{
			{"report", "--db", u},
			{"migrate", "--db", u},
			{"audience", "lost_not_enough_stock", "--from", "../../campaigns", "--db", u},
		} {
			code, stdout, stderr, ok := e2.runBounded(t, 30*time.Second, args...)
			if ok {
				check(t, args, code, stdout, stderr)
			}
		}
	}

	served := make(chan struct{})
	go func() { wg.Wait(); close(served) }()
	select {
	case <-served:
	case <-time.After(90 * time.Second):
		t.Fatalf("serve still running 90 s after start with an unreachable database")
	}
	for _, r := range serveResults {
		check(t, r.args, r.code, r.stdout, r.stderr)
		t.Logf("serve --db %s: exit %d after %s", r.args[2], r.code, r.elapsed.Round(time.Millisecond))
		// --db-wait bounds the wait: the closed port gives up after about 2 s
		// of retries, not the default 30.
		if r.elapsed > 20*time.Second {
			t.Errorf("serve --db %s --db-wait 2s gave up after %s: --db-wait is not honoured", r.args[2], r.elapsed.Round(time.Millisecond))
		}
	}
}

// --smtp-implicit-tls: as given, or on for port 465 when not given.
func TestSMTPImplicitTLSByPort(t *testing.T) {
	for _, tc := range []struct {
		addr        string
		flag, given bool
		want        bool
	}{
		{"smtp.example.com:465", false, false, true},
		{"smtp.example.com:587", false, false, false},
		{"127.0.0.1:2525", false, false, false},
		{"smtp.example.com:465", false, true, false}, // --smtp-implicit-tls=false
		{"127.0.0.1:2465", true, true, true},
		{"no-port", false, false, false},
	} {
		if got := smtpImplicitTLS(tc.addr, tc.flag, tc.given); got != tc.want {
			t.Errorf("smtpImplicitTLS(%q, %v, given %v) = %v, want %v", tc.addr, tc.flag, tc.given, got, tc.want)
		}
	}
}
