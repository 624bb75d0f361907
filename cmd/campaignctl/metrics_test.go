package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/store/storetest"
)

// TestMetricsLiveScrapePassesPromtool runs a real daemon (the built binary,
// its own process) on the demo CRM and campaigns against the SMTP capture
// server, waits until it has sent mail, scrapes its live /metrics over HTTP
// and runs `promtool check metrics` on what it serves; then checks that the
// families the dashboards and alerts rely on are there with data.
func TestMetricsLiveScrapePassesPromtool(t *testing.T) {
	ownProcess(t)
	skipInShortMode(t)
	t.Parallel() // a daemon of its own as a process: overlaps the others' waits
	promtool := findPromtool(t)
	e := setupE2E(t)
	mustRun(t, 0, "apply", "--db", e.url, e.plan)
	bin := buildKillBinary(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// Without $GOGC, $GOMEMLIMIT and $GOMAXPROCS, so the daemon's own
	// garbage collector settings and its share of the CPUs show (half of
	// them: the test cluster runs on this machine).
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	d := startProcess(t, 20*time.Second, append(env, "CAMPAIGNCTL_SECRET=metrics-test-secret-0123456789"),
		bin, "serve", "--db", e.url, "--smtp", e.addr, "--listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--interval", "20ms", "--public-url", base, "--clock-start", "2026-12-02T00:00:00Z", "--clock-speed", "1000000",
		// Every scrape reads the store: a scrape before the first enrollment
		// would otherwise hide campaignctl_enrollments for 10 s, while the
		// daemon sends months of the plan at full speed.
		"--metrics-store-interval", "0")

	// Wait for a real send, then for a scrape that shows it.
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no mail sent and scraped within 60s (%d messages at the relay)\nlast scrape:\n%s\ndaemon log:\n%s", e.smtp.Count(), tail(body, 3000), tail(d.output(), 3000))
		}
		if e.smtp.Count() > 0 {
			body = scrape(t, base+"/metrics")
			if strings.Contains(body, `campaignctl_messages_total{`) && strings.Contains(body, "campaignctl_enrollments{") {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}

	check := exec.Command(promtool, "check", "metrics")
	check.Stdin = strings.NewReader(body)
	if out, err := check.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics on the live /metrics: %v\n%s", err, out)
	}
	for _, want := range []string{
		"campaignctl_build_info{go_version=",
		"campaignctl_messages_total{kind=",
		"campaignctl_smtp_send_duration_seconds_bucket{",
		"campaignctl_reconcile_duration_seconds_count ",
		"campaignctl_audience_materialization_duration_seconds_count ",
		"campaignctl_enrollments{kind=",
		"campaignctl_store_scrape_success 1",
		"campaignctl_leader 1",
		fmt.Sprintf("go_gc_gogc_percent %d\n", defaultServeGC),
		fmt.Sprintf("go_gc_gomemlimit_bytes %s\n", strconv.FormatFloat(float64(serveMemoryLimit(cgroupMemoryMax())), 'g', -1, 64)),
		fmt.Sprintf("go_sched_gomaxprocs_threads %d\n", max(1, defaultProcs()/2)),
		// campaignctl_outbox_pending_messages has samples only while mail
		// waits, which a fast send may already have drained by this scrape:
		// TestStoreCollectorReadsTheStore checks it against seeded rows.
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the live /metrics has no %q", want)
		}
	}
	for _, bad := range []string{"@example", "@x.test", "contact_key="} {
		if strings.Contains(body, bad) {
			t.Errorf("the live /metrics carries contact data (%q)", bad)
		}
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

// findPromtool returns promtool from scripts/promtool.sh, which installs
// Debian's prometheus package when it can. Without it the test fails under
// CAMPAIGNCTL_REQUIRE_DB=1 (make test) and is skipped otherwise.
func findPromtool(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("bash", "../../scripts/promtool.sh").Output()
	if err != nil {
		msg := "promtool is not available (bash scripts/promtool.sh: " + err.Error() + "); install Debian's prometheus package"
		if os.Getenv(storetest.EnvRequireDB) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return strings.TrimSpace(string(out))
}

// defaultProcs is the GOMAXPROCS Go gives a process here without
// $GOMAXPROCS: the test binary's own, unless $GOMAXPROCS set that (then the
// CPUs this process may run on, which ignores a container's CPU limit).
func defaultProcs() int {
	if os.Getenv("GOMAXPROCS") == "" {
		return runtime.GOMAXPROCS(0)
	}
	return runtime.NumCPU()
}
