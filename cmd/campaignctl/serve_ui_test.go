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

// TestServeUIFlags: --ui refuses to start without a token, with a weak one,
// or without HTTP, and says what to set. No database is needed: these checks
// come first (the URL names a closed port, so a regression fails fast).
func TestServeUIFlags(t *testing.T) {
	db := "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2"
	for _, tc := range []struct {
		name      string
		env       map[string]string
		listen    string
		want      string
		forbidden string
	}{
		{"no token", nil, "127.0.0.1:0", "CAMPAIGNCTL_UI_TOKEN", ""},
		{"weak token", map[string]string{"CAMPAIGNCTL_UI_TOKEN": "hunter2"}, "127.0.0.1:0", "at least 16", "hunter2"},
		{"no HTTP", map[string]string{"CAMPAIGNCTL_UI_TOKEN": "ui-token-0123456789abcdef"}, "", "--listen", "ui-token-0123456789abcdef"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CAMPAIGNCTL_UI_TOKEN", "")
			t.Setenv("CAMPAIGNCTL_EVENTS_TOKEN", "")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			code, stdout, stderr, ok := runBounded(t, 20*time.Second, "serve", "--db", db, "--smtp", "127.0.0.1:1", "--listen", tc.listen, "--ui")
			if !ok {
				return
			}
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 2 and a message naming %q\nstdout:\n%s\nstderr:\n%s", code, tc.want, stdout, stderr)
			}
			if tc.forbidden != "" && strings.Contains(stderr, tc.forbidden) {
				t.Errorf("the token is printed:\n%s", stderr)
			}
		})
	}
}

// TestServeUILive runs the built daemon with --ui on the demo CRM and
// campaigns: signed out, /ui/ sends to the login form; with the events token
// (CAMPAIGNCTL_UI_TOKEN unset) as a bearer token it shows the seed's objects;
// a wrong token gets 401; the token never shows in the daemon's log.
func TestServeUILive(t *testing.T) {
	ownProcess(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	e := setupE2E(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)
	bin := buildKillBinary(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	const token = "serve-ui-test-token-0123456789"
	env := []string{"CAMPAIGNCTL_SECRET=serve-ui-test-secret-0123456789", "CAMPAIGNCTL_EVENTS_TOKEN=" + token}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CAMPAIGNCTL_UI_TOKEN=") && !strings.HasPrefix(kv, "CAMPAIGNCTL_EVENTS_TOKEN=") {
			env = append(env, kv)
		}
	}
	d := startProcess(t, 20*time.Second, env, bin, "serve", "--db", e.url, "--smtp", e.addr, "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--ui",
		"--interval", "20ms", "--public-url", base, "--clock-start", "2026-12-02T00:00:00Z", "--clock-speed", "1000000")
	logs := d.logs
	noRedirect := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(auth string) (int, string, string) {
		req, _ := http.NewRequest("GET", base+"/ui/", nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			return 0, "", err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Location"), string(b)
	}
	var code int
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, body = get(token)
		if code == 200 && strings.Contains(body, "restock_nurture") && e.smtp.Count() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no status page with the seed's objects within 60s: last %d\n%s\ndaemon log:\n%s", code, tail(body, 2000), tail(logs.String(), 3000))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c, loc, _ := get(""); c != 303 || loc != "/ui/login" {
		t.Errorf("signed out: %d to %q, want 303 to /ui/login", c, loc)
	}
	if c, _, _ := get(token + "x"); c != 401 {
		t.Errorf("wrong token: %d, want 401", c)
	}
	if !strings.Contains(logs.String(), `msg="serving the status page" url=`+base+"/ui/") {
		t.Errorf("the log does not say where the page is:\n%s", tail(logs.String(), 2000))
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the token is in the daemon's log")
	}
}
