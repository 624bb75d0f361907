package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServeMetricsOnTheirOwnListenerAndRateLimit runs the daemon with
// --metrics-listen: /metrics and the probes answer there and not on --listen,
// which keeps the public links; and --rate-limit holds one client to its
// burst on the public routes.
func TestServeMetricsOnTheirOwnListenerAndRateLimit(t *testing.T) {
	ownProcess(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	// One campaign: what is checked is where each route answers, not what the
	// daemon sends.
	e := setupE2EOneCampaign(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)
	bin := buildKillBinary(t)
	pub := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	internal := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startProcess(t, 20*time.Second, append(os.Environ(), "CAMPAIGNCTL_SECRET="+testSecret), bin, "serve",
		"--db", e.url, "--smtp", e.addr, "--listen", pub, "--metrics-listen", internal,
		"--rate-limit", "1", "--rate-burst", "3", "--public-url", "http://"+pub)
	get := func(url string) int {
		res, err := http.Get(url)
		if err != nil {
			return 0
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	deadline := time.Now().Add(30 * time.Second)
	// Alive at once, ready once the store is open.
	if code := get("http://" + internal + "/healthz"); code != http.StatusOK {
		t.Logf("/healthz right after start: %d", code)
	}
	for get("http://"+internal+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz on --metrics-listen not 200 within 30 s; log:\n%s", tail(d.output(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		url  string
		want int
	}{
		{"http://" + internal + "/metrics", http.StatusOK},
		{"http://" + internal + "/readyz", http.StatusOK},
		{"http://" + internal + "/u/x", http.StatusNotFound},
		{"http://" + pub + "/metrics", http.StatusNotFound},
		{"http://" + pub + "/healthz", http.StatusNotFound},
		{"http://" + pub + "/u/not-a-token", http.StatusBadRequest}, // the public route is there
	} {
		if got := get(c.url); got != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, got, c.want)
		}
	}
	// The three requests to --listen above spent the burst; of three more,
	// at least one is refused, whatever the timing (one token a second).
	codes := []int{get("http://" + pub + "/o/x"), get("http://" + pub + "/o/x"), get("http://" + pub + "/o/x")}
	if !strings.Contains(fmt.Sprint(codes), "429") {
		t.Errorf("5 requests from one client under --rate-limit 1 --rate-burst 3: %v; want a 429", codes)
	}
	if got := get("http://" + internal + "/metrics"); got != http.StatusOK {
		t.Errorf("/metrics after the client hit its limit: %d; the operator's listener is not limited", got)
	}
	if err := d.stop(); err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, tail(d.output(), 2000))
	}
	if !strings.Contains(d.output(), `msg="serving /metrics, /healthz and /readyz" addr=`+internal) {
		t.Errorf("the log does not say where /metrics is:\n%s", tail(d.output(), 2000))
	}
}

func TestServeListenFlagErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "", "--metrics-listen", "127.0.0.1:0"}, "--metrics-listen splits the routes of --listen"},
		{[]string{"--trusted-proxy", "10.0.0.0/8,proxy.local"}, `--trusted-proxy "10.0.0.0/8,proxy.local"`},
		{[]string{"--rate-limit", "-1"}, "--rate-limit must be 0 (off) or positive"},
		{[]string{"--metrics-store-interval", "-1s"}, "--metrics-store-interval must be 0 (read the store on every scrape) or positive"},
	} {
		code, stdout, stderr, ok := runBounded(t, 20*time.Second, append([]string{"serve",
			"--db", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
			"--smtp", "127.0.0.1:1"}, tc.args...)...)
		if !ok {
			return
		}
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("serve %v: exit %d, want 2 and %q\nstdout:\n%s\nstderr:\n%s", tc.args, code, tc.want, stdout, stderr)
		}
	}
}

// A daemon that cannot reach its database yet is alive and not ready: its
// probes answer (a probe that cannot connect reads like a dead process), its
// links ask to come back later, and SIGTERM stops it cleanly.
func TestServeProbesAnswerWhileTheDatabaseIsAway(t *testing.T) {
	ownProcess(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	bin := buildKillBinary(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	away := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1", freePort(t))
	d := startProcess(t, 20*time.Second, append(os.Environ(), "CAMPAIGNCTL_SECRET="+testSecret), bin, "serve",
		"--db", away, "--smtp", "127.0.0.1:1", "--listen", listen, "--public-url", "http://"+listen)
	get := func(path string) (int, string) {
		res, err := http.Get("http://" + listen + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if code, _ := get("/healthz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /healthz within 15 s while the database is away; log:\n%s", tail(d.output(), 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != http.StatusOK || !strings.Contains(body, "starting") {
		t.Errorf("/healthz: %d %q; want 200 saying it is starting", code, body)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while the database is away: %d, want 503", code)
	}
	if code, _ := get("/u/anything"); code != http.StatusServiceUnavailable {
		t.Errorf("a link while the database is away: %d, want 503 (come back later)", code)
	}
	// A provider's RFC 8058 one-click POST is told when it may try again.
	if res, err := http.Post("http://"+listen+"/u/anything", "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click")); err != nil {
		t.Errorf("one-click POST while the database is away: %v", err)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
			t.Errorf("one-click POST while the database is away: %d, Retry-After %q; want 503 with a Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	if err := d.stop(); err != nil {
		t.Fatalf("SIGTERM while waiting for the database: %v; want exit 0\n%s", err, tail(d.output(), 2000))
	}
}
