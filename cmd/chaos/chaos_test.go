//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/internal/testbin"
)

// TestChaosShort is the short run of the fault harness (`make chaos` runs
// the full one): three replicas of the real binary, a campaign, a three-step
// sequence, a workflow and an autoresponder on 3,000 contacts, while
// replicas are killed, Postgres crashes and stops, and the relay goes away,
// hangs up and answers 421, 451 and 550, resets mid-DATA and stalls. Nothing may be lost, no duplicate may
// fall outside the in-flight window, and the daemons must recover alone.
func TestChaosShort(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos: skipped in -short mode")
	}
	if os.Getenv("CAMPAIGNCTL_TEST_PG") == "" && os.Getenv("CAMPAIGNCTL_REQUIRE_DB") != "1" {
		t.Skip("chaos: CAMPAIGNCTL_TEST_PG is not set and CAMPAIGNCTL_REQUIRE_DB is not 1; run `make test`")
	}
	work := t.TempDir()
	// scripts/test.sh builds campaignctl once for the run's packages
	// ($CAMPAIGNCTL_TEST_BINARY); alone, the test builds its own.
	bin := testbin.Prebuilt(t)
	if bin == "" {
		bin = filepath.Join(work, "campaignctl")
		build := exec.Command("go", "build", "-o", bin, "../campaignctl")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ../campaignctl: %v\n%s", err, out)
		}
	}
	cfg := Short()
	cfg.Seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("CAMPAIGNCTL_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CAMPAIGNCTL_CHAOS_SEED=%q: want an unsigned integer", s)
		}
		cfg.Seed = v
	}
	t.Logf("seed %d (replay with CAMPAIGNCTL_CHAOS_SEED=%d)", cfg.Seed, cfg.Seed)
	cfg.Bin, cfg.Work, cfg.PGScript = bin, work, "../../scripts/pg.sh"
	cfg.Log = t.Logf
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatalf("the harness could not run: %v", err)
	}
	var out strings.Builder
	res.Print(&out)
	t.Logf("\n%s", out.String())
	for _, f := range res.Failed() {
		t.Error(f)
	}
	// The faults must really have happened, or the run proves nothing.
	if res.Kills < cfg.Kills || res.PGRestarts < 2 || res.Outages < 1 || res.Hangups < 1 {
		t.Errorf("faults: %d kills (want ≥ %d), %d Postgres restarts (want 2), %d outages, %d hang-ups (want 1 each)",
			res.Kills, cfg.Kills, res.PGRestarts, res.Outages, res.Hangups)
	}
	if !res.ReadyzDown || !res.ReadyzBack {
		t.Errorf("/readyz while Postgres was stopped: 503 seen %v, 200 after %v", res.ReadyzDown, res.ReadyzBack)
	}
	for _, f := range []string{"550 5.1.1 (hard) ×0", "451 4.3.0 ×0", "421 4.4.2 ×0", "reset mid-DATA ×0", "stall after the dot ×0"} {
		if strings.Contains(res.Faults+",", f+",") {
			t.Errorf("a planted relay fault never happened: %s (%s)", f, res.Faults)
		}
	}
	if res.MetricsScraped < cfg.Replicas {
		t.Errorf("only %d of %d replicas' /metrics were searched for contact data", res.MetricsScraped, cfg.Replicas)
	}
	if res.delivered == 0 || res.failedReason == 0 {
		t.Errorf("delivered %d, failed for a reason %d: want both > 0", res.delivered, res.failedReason)
	}
}
