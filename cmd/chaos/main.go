// Command chaos is campaignctl's fault harness (`make chaos`): it runs a
// realistic load — a campaign to every contact, a three-step sequence, an
// event-triggered workflow and an autoresponder, on an accelerated clock, with three replicas of
// the real binary sharing one Postgres cluster and one SMTP relay — while it
// kills replicas with SIGKILL at random moments and restarts them, crashes and
// stops Postgres, stops the relay, makes it hang up, answer 421, 451 and 550
// for chosen recipients, reset connections mid-DATA and stall after the final
// dot. At the end it counts, per recipient and per message, what the relay
// received and compares it with the ledger: lost, duplicated, and duplicates
// inside the documented in-flight window. It prints a table and exits 1 when
// anything is lost or duplicated outside that window, or when the daemons did
// not recover by themselves.
//
// Everything runs on loopback: a private Postgres cluster (scripts/pg.sh, on
// a free port, removed at the end) and an in-process relay. Every wait has a
// deadline.
//
//	go run ./cmd/chaos                 # 100,000 contacts (make chaos)
//	go run ./cmd/chaos -short          # 3,000 contacts, what make test runs
//	go run ./cmd/chaos -seed 42        # replay a run's random schedule
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	short := fs.Bool("short", false, "the short run of make test (3,000 contacts, seconds) instead of the full one")
	contacts := fs.Int("contacts", 0, "contacts (default: 100,000; 3,000 with -short)")
	kills := fs.Int("kills", 0, "kill -9 faults (default: 20; 8 with -short)")
	outage := fs.Duration("outage", 0, "how long the relay is stopped (default: 1m; 2s with -short)")
	seed := fs.Uint64("seed", 0, "random schedule seed (default: from the time; printed, to replay a run)")
	bin := fs.String("bin", "", "campaignctl binary to run (default: built from ./cmd/campaignctl)")
	root := fs.String("root", ".", "the repository's root (for scripts/pg.sh and building)")
	keep := fs.Bool("keep", false, "keep the work directory (plan, daemons' logs) and print where it is")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg := Full()
	if *short {
		cfg = Short()
	}
	if *contacts > 0 {
		cfg.Contacts = *contacts
	}
	if *kills > 0 {
		cfg.Kills = *kills
	}
	if *outage > 0 {
		cfg.Outage = *outage
	}
	cfg.Seed = *seed
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	cfg.PGScript = filepath.Join(*root, "scripts", "pg.sh")
	if _, err := os.Stat(cfg.PGScript); err != nil {
		fmt.Fprintf(stderr, "chaos: %s not found: run from the repository's root or pass -root\n", cfg.PGScript)
		return 2
	}
	work, err := os.MkdirTemp("", "campaignctl-chaos-work-")
	if err != nil {
		fmt.Fprintln(stderr, "chaos:", err)
		return 1
	}
	if *keep {
		fmt.Fprintf(stdout, "work directory (kept): %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}
	cfg.Work = work
	cfg.Bin = *bin
	if cfg.Bin == "" {
		cfg.Bin = filepath.Join(work, "campaignctl")
		cmd := exec.Command("go", "build", "-o", cfg.Bin, "./cmd/campaignctl")
		cmd.Dir = *root
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(stderr, "chaos: go build ./cmd/campaignctl: %v\n%s", err, out)
			return 1
		}
	}
	cfg.Log = func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	fmt.Fprintf(stdout, "chaos: %d contacts, %d replicas, %d kills, relay outage %s, clock ×%g, seed %d (replay with -seed %d)\n",
		cfg.Contacts, cfg.Replicas, cfg.Kills, cfg.Outage, cfg.ClockSpeed, cfg.Seed, cfg.Seed)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "chaos: the harness could not run:", err)
		return 1
	}
	res.Print(stdout)
	if len(res.Failed()) > 0 {
		return 1
	}
	return 0
}
