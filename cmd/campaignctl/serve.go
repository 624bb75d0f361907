package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/events"
	"github.com/campaignctl/campaignctl/runtime/httpapi"
	"github.com/campaignctl/campaignctl/runtime/inbound"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/mailer"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/statuspage"
	"github.com/campaignctl/campaignctl/runtime/store"
)

func runServe(args []string, stdout, stderr io.Writer) int {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultServeGC)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(serveMemoryLimit(cgroupMemoryMax()))
	}
	return serveWithEnv(os.Getenv, runtime.GOMAXPROCS, args, stdout, stderr)
}

// parseProcs reads --procs: a number of CPUs of at least 1, or "auto" (0).
func parseProcs(spec string) (int, error) {
	if spec == "auto" {
		return 0, nil
	}
	n, err := strconv.Atoi(spec)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--procs %q: want auto or a number of CPUs of at least 1", spec)
	}
	return n, nil
}

// serveProcs is how many CPUs (GOMAXPROCS) the daemon uses. flag is --procs
// as parseProcs read it. With auto (0), $GOMAXPROCS decides when it is set
// (envSet; current is then its value); otherwise a daemon whose database runs
// on the same machine (dbLocal) takes half of the CPUs it may use (current,
// Go's default, which follows a container's CPU limit), at least one, and
// leaves the rest to Postgres. On two cores shared with Postgres and a local
// relay, a second processor cost the daemon 12-31% more CPU a message (Go's
// scheduler spinning for work at each of the send path's wake-ups), CPU
// that Postgres and the relay lacked (docs/sending.md, "A ninth look").
func serveProcs(flag int, envSet bool, current int, dbLocal bool) (n int, why string) {
	switch {
	case flag > 0:
		return flag, "--procs"
	case envSet:
		return current, "$GOMAXPROCS"
	case dbLocal && current > 1:
		return current / 2, "half of the CPUs: the database runs on this machine"
	default:
		return current, "all of the CPUs"
	}
}

// defaultServeGC is the garbage collector's target (GOGC) of the daemon when
// $GOGC does not set one. The daemon's live heap is small (the plan, the
// templates, the messages of the in-flight window: 9-10 MB after each
// collection while sending 100,000 messages, GODEBUG=gctrace=1), and at
// Go's default of 100 it collected so often that the collector took about
// 8% of its CPU while sending. At 400 the heap may
// grow to five times the live heap before a collection, up to the soft
// limit of serveMemoryLimit (docs/sending.md, "A fifth look", has the
// figures). The metrics go_gc_gogc_percent and go_gc_gomemlimit_bytes show
// the values in effect.
const defaultServeGC = 400

// defaultServeMemoryLimit is the daemon's soft memory limit when $GOMEMLIMIT
// does not set one and no cgroup limit lowers it: past it the collector runs
// as often as it must, whatever GOGC says.
const defaultServeMemoryLimit = 512 << 20

// serveMemoryLimit is the soft memory limit for a cgroup memory limit of
// cgroupMax bytes (0: none): defaultServeMemoryLimit, or half the cgroup's
// limit when that is lower, so a container sized for Go's default collector
// is not killed for the heap GOGC=400 lets grow.
func serveMemoryLimit(cgroupMax int64) int64 {
	if cgroupMax > 0 && cgroupMax/2 < defaultServeMemoryLimit {
		return cgroupMax / 2
	}
	return defaultServeMemoryLimit
}

// cgroupMemoryMax reads this process's cgroup memory limit (cgroup v2's
// memory.max, else v1's memory.limit_in_bytes); 0 when there is none or it
// cannot be read.
func cgroupMemoryMax() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		return parseCgroupMemoryMax(string(b))
	}
	return 0
}

// parseCgroupMemoryMax reads a cgroup memory limit file's content: "max"
// (v2) and v1's "no limit" (a page-rounded 2^63-1) are 0.
func parseCgroupMemoryMax(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<62 {
		return 0
	}
	return n
}

// serveWithEnv is runServe reading its environment ($CAMPAIGNCTL_SECRET and
// the other variables below) through getenv: the tests give each in-process
// daemon its own, so they can run in parallel, which t.Setenv forbids.
func serveWithEnv(getenv func(string) string, setProcs func(int) int, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("serve", "serve --db URL --smtp HOST:PORT [flags]", `
Run the daemon: reconcile the latest applied plan against the store, materialize due
audiences, send due messages over SMTP, and serve /metrics, /healthz, /readyz, the
unsubscribe links (/u/…) and, with --ui, the read-only status page (/ui/: objects,
sync and health, funnels, A/B verdicts, graphs, a contact lookup; token from
$CAMPAIGNCTL_UI_TOKEN, else $CAMPAIGNCTL_EVENTS_TOKEN). Several replicas may share
one database: one leads reconcile, all send, and no message is sent twice.

The link-signing secret is read from $CAMPAIGNCTL_SECRET (at least 16 bytes) and the
SMTP password from $CAMPAIGNCTL_SMTP_PASSWORD, never from a flag, so they do not show
in process listings. Marketing mail needs --public-url and the secret: without them
serve refuses a plan that has marketing mail. To rotate the secret, set the new one
in $CAMPAIGNCTL_SECRET and the previous ones, comma-separated, in
$CAMPAIGNCTL_SECRET_OLD: links already sent keep working until their secret is
removed from that list. Marketing mail is tracked (links through /c/, a pixel at
/o/) unless --no-tracking. docs/sending.md describes the send path, its guarantees
and these flags.`, `  CAMPAIGNCTL_SECRET=… campaignctl serve --db "$CAMPAIGNCTL_DB" --smtp 127.0.0.1:2525 \
      --public-url https://mail.example.com
  campaignctl serve --db "$CAMPAIGNCTL_DB" --smtp 127.0.0.1:2525 --public-url https://mail.example.com --exit-when-idle`, stderr)
	db := dbFlagFrom(fs, getenv)
	smtpAddr := fs.String("smtp", getenv("CAMPAIGNCTL_SMTP"), "SMTP relay host:port (default $CAMPAIGNCTL_SMTP)")
	listen := fs.String("listen", "127.0.0.1:9464", "address for /metrics, /healthz and links; empty disables HTTP")
	metricsListen := fs.String("metrics-listen", "", "serve /metrics, /healthz and /readyz on this address only (e.g. 127.0.0.1:9465), and only the public links, events and status page on --listen")
	rateLimit := fs.Float64("rate-limit", httpapi.DefaultPerSecond, "requests per second one client may make to the public endpoints (links, events, status page); 0 turns the limit off")
	rateBurst := fs.Int("rate-burst", httpapi.DefaultBurst, "requests one client may make at once above --rate-limit")
	trustedProxies := fs.String("trusted-proxy", "", "comma-separated networks of the reverse proxies in front of --listen (e.g. 10.0.0.0/8): their X-Forwarded-For names the client the rate limit counts")
	publicURL := fs.String("public-url", "", "public base URL of this daemon's links, e.g. https://mail.example.com")
	worker := fs.String("worker", "", "name of this replica in claimed rows (default hostname-pid)")
	interval := fs.Duration("interval", time.Second, "time between reconcile passes: a plan change (a removed or edited campaign) applies within it; due messages are polled at most every 250ms")
	concurrency := fs.Int("concurrency", 4, "messages in flight to SMTP at once")
	exitIdle := fs.Bool("exit-when-idle", false, "exit once every object of the applied plan is finished; a paused object is not, and the daemon logs what it waits for")
	clockStart := fs.String("clock-start", "", "run on an accelerated clock starting at this RFC 3339 time (demo and rehearsal)")
	clockSpeed := fs.Float64("clock-speed", 1, "with --clock-start: simulated seconds per real second")
	clockOrigin := fs.String("clock-origin", "", "with --clock-start: the real RFC 3339 instant at which the simulated clock read --clock-start (default: when serve starts); give replicas the same one so they agree on the time across restarts")
	smtpUser := fs.String("smtp-user", getenv("CAMPAIGNCTL_SMTP_USER"), "SMTP AUTH user (default $CAMPAIGNCTL_SMTP_USER); the password comes only from $CAMPAIGNCTL_SMTP_PASSWORD")
	requireTLS := fs.Bool("smtp-require-tls", false, "refuse to send unless the relay offers STARTTLS (STARTTLS is used whenever offered)")
	implicitTLS := fs.Bool("smtp-implicit-tls", false, "speak TLS from the first byte (SMTPS, RFC 8314), as relays on port 465 do; on by default when --smtp's port is 465")
	smtpTimeout := fs.Duration("smtp-timeout", 30*time.Second, "timeout for connecting and for each SMTP command")
	dataTimeout := fs.Duration("smtp-data-timeout", 2*time.Minute, "timeout for sending a message body and getting the relay's answer")
	lease := fs.Duration("lease", 30*time.Second, "how long a claimed message stays this replica's without renewal (real time, database clock); renewed every third of it")
	ledgerBatch := fs.Int("ledger-batch", 256, "most messages handed to the relay without a committed outcome (what a kill -9 can send twice); outcomes are written half of it at a time")
	giveUp := fs.Duration("give-up-after", 72*time.Hour, "retry temporary failures (4xx, relay down) this long after the first attempt, then fail the message")
	grace := fs.Duration("shutdown-grace", 10*time.Second, "on SIGTERM, time for messages already handed to the relay to finish; what is then known is recorded within 5s more")
	enrollEvery := fs.Duration("enroll-interval", time.Minute, "how often the leader enrolls contacts newly matching a sequence's or autoresponder's segment (also right after each apply)")
	dbWait := fs.Duration("db-wait", 30*time.Second, "how long to wait at start for a database that is not reachable yet (starting, restarting, its network not up); a bad URL, password or database name fails at once")
	dbConns := fs.Int("db-max-conns", store.DefaultMaxConns, "most connections to Postgres this daemon holds (all kept open while idle, for up to 5 minutes)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile (pprof) to this file until exit")
	procsSpec := fs.String("procs", "auto", "CPUs the daemon uses (GOMAXPROCS): a number, or auto: $GOMAXPROCS when set, else half of them when the database runs on this machine, else all")
	noTracking := fs.Bool("no-tracking", false, "do not track opens and clicks of new marketing mail (links already sent through /c/ and /o/ keep working)")
	dkimDomain := fs.String("dkim-domain", "", "sign every message with DKIM (RFC 6376) for this domain (d=); the key comes from $"+dkimKeyEnv+" (PEM) or --dkim-key-file")
	dkimSelector := fs.String("dkim-selector", "", "DKIM selector (s=): the public key is published at <selector>._domainkey.<domain>")
	dkimKeyFile := fs.String("dkim-key-file", "", "PEM file with the DKIM private key (RSA ≥ 1024 bits, 2048 advised, or Ed25519); keep it outside git")
	inboundAddr := fs.String("inbound", "", "listen for replies, bounces (DSNs) and complaints (ARF) by SMTP on this address, e.g. :25 behind the MX of --bounce-domain")
	bounceDomain := fs.String("bounce-domain", "", "give every message a signed VERP return path bounce+<token>@DOMAIN, whose MX leads to an --inbound listener")
	replyDomain := fs.String("reply-domain", "", "give messages of senders without a Reply-To a signed reply+<token>@DOMAIN Reply-To (replies are recorded, not forwarded)")
	inboundDomains := fs.String("inbound-domain", "", "comma-separated further domains --inbound takes mail for (the senders' own, when routed here): replies matched by In-Reply-To")
	inboundSession := fs.Duration("inbound-session-max", inbound.DefaultSessionTimeout, "longest an --inbound SMTP session may last, however busy its client keeps it; then 421 and the sender reconnects (at least 1m: raise it for senders of large messages over slow links)")
	inboundMemory := fs.Int("inbound-memory-mib", inbound.DefaultMemoryBudget>>20, "most MiB of message data the --inbound listener holds at once, all its connections together; a message that would take more is answered 452 4.3.1 and its sender retries (at least 10, one message)")
	storeEvery := fs.Duration("metrics-store-interval", metrics.DefaultStoreMinInterval, "re-read the gauges that come from the store (backlog, enrollments, failed messages) at most this often; a scrape in between gets the last figures (0: on every scrape)")
	ui := fs.Bool("ui", false, "serve the read-only status page at /ui/ on --listen; it needs the token in $"+statuspage.TokenEnv+" (or $"+httpapi.EventsTokenEnv+" when that is unset)")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	if !needDB(*db, stderr) {
		return 2
	}
	if *smtpAddr == "" {
		fmt.Fprintln(stderr, "campaignctl serve: no SMTP relay: pass --smtp host:port or set CAMPAIGNCTL_SMTP")
		return 2
	}
	if _, _, err := net.SplitHostPort(*smtpAddr); err != nil {
		fmt.Fprintf(stderr, "campaignctl serve: --smtp %q: want host:port\n", *smtpAddr)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	for name, d := range map[string]time.Duration{"db-wait": *dbWait, "enroll-interval": *enrollEvery, "lease": *lease, "give-up-after": *giveUp, "shutdown-grace": *grace, "smtp-timeout": *smtpTimeout, "smtp-data-timeout": *dataTimeout} {
		if d <= 0 {
			fmt.Fprintf(stderr, "campaignctl serve: --%s must be positive\n", name)
			return 2
		}
	}
	if *storeEvery < 0 {
		fmt.Fprintln(stderr, "campaignctl serve: --metrics-store-interval must be 0 (read the store on every scrape) or positive")
		return 2
	}
	proxies, err := httpapi.ParseTrustedProxies(*trustedProxies)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl serve: --trusted-proxy %q: %v\n", *trustedProxies, err)
		return 2
	}
	if *rateLimit < 0 || *rateBurst < 1 {
		fmt.Fprintln(stderr, "campaignctl serve: --rate-limit must be 0 (off) or positive and --rate-burst at least 1")
		return 2
	}
	limits := httpapi.Limits{PerSecond: *rateLimit, Burst: *rateBurst, TrustedProxies: proxies}
	if *rateLimit == 0 {
		limits.PerSecond = -1
	}
	if *metricsListen != "" && *listen == "" {
		fmt.Fprintln(stderr, "campaignctl serve: --metrics-listen splits the routes of --listen: give --listen too (the public links need it)")
		return 2
	}
	procs, err := parseProcs(*procsSpec)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl serve:", err)
		return 2
	}
	if *ledgerBatch < 1 || *concurrency < 1 || *dbConns < 4 {
		fmt.Fprintln(stderr, "campaignctl serve: --ledger-batch and --concurrency must be at least 1, --db-max-conns at least 4 (the claimer, the ledger, the renewer and reconcile each need one)")
		return 2
	}
	if *smtpUser != "" && getenv("CAMPAIGNCTL_SMTP_PASSWORD") == "" {
		// Sent empty, the relay would refuse every connection (535) and
		// sending would pause for a configuration problem found only then.
		fmt.Fprintf(stderr, "campaignctl serve: --smtp-user %q needs the password in $CAMPAIGNCTL_SMTP_PASSWORD (never a flag, so it stays out of process lists)\n", *smtpUser)
		return 2
	}
	var clk clock.Clock = clock.Real{}
	speedSet, implicitTLSSet := false, false
	var listenerOnly []string // flags of the --inbound listener
	fs.Visit(func(f *flag.Flag) {
		speedSet = speedSet || f.Name == "clock-speed"
		implicitTLSSet = implicitTLSSet || f.Name == "smtp-implicit-tls"
		if f.Name == "inbound-memory-mib" || f.Name == "inbound-session-max" {
			listenerOnly = append(listenerOnly, "--"+f.Name)
		}
	})
	if *inboundAddr == "" && len(listenerOnly) > 0 {
		fmt.Fprintf(stderr, "campaignctl serve: %s set the --inbound listener, which this daemon does not start: add --inbound ADDR or drop them\n", strings.Join(listenerOnly, " and "))
		return 2
	}
	if speedSet && *clockStart == "" {
		fmt.Fprintln(stderr, "campaignctl serve: --clock-speed needs --clock-start (the simulated time to start from), e.g. --clock-start 2026-12-01T08:00:00Z --clock-speed 86400")
		return 2
	}
	if *clockOrigin != "" && *clockStart == "" {
		fmt.Fprintln(stderr, "campaignctl serve: --clock-origin needs --clock-start (the simulated time the clock read at that instant)")
		return 2
	}
	if *clockStart != "" {
		t, err := time.Parse(time.RFC3339, *clockStart)
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl serve: --clock-start %q: want RFC 3339, e.g. 2026-12-01T08:00:00Z\n", *clockStart)
			return 2
		}
		if *clockSpeed <= 0 {
			fmt.Fprintln(stderr, "campaignctl serve: --clock-speed must be positive")
			return 2
		}
		acc := &clock.Accelerated{Start: t, Factor: *clockSpeed}
		if *clockOrigin != "" {
			o, err := time.Parse(time.RFC3339Nano, *clockOrigin)
			if err != nil {
				fmt.Fprintf(stderr, "campaignctl serve: --clock-origin %q: want an RFC 3339 instant, e.g. 2026-12-04T05:00:00Z\n", *clockOrigin)
				return 2
			}
			acc.Origin = o
		}
		clk = acc
	}

	var signer *links.Signer
	if secret := getenv("CAMPAIGNCTL_SECRET"); secret != "" {
		s, err := links.FromSecrets([]byte(secret), links.SplitSecrets(getenv("CAMPAIGNCTL_SECRET_OLD"))...)
		if err != nil {
			fmt.Fprintln(stderr, "campaignctl serve:", err)
			return 2
		}
		signer = s
	} else if *publicURL != "" {
		fmt.Fprintln(stderr, "campaignctl serve: --public-url needs CAMPAIGNCTL_SECRET (≥ 16 bytes) to sign unsubscribe links")
		return 2
	} else if getenv("CAMPAIGNCTL_SECRET_OLD") != "" {
		fmt.Fprintln(stderr, "campaignctl serve: CAMPAIGNCTL_SECRET_OLD is set without CAMPAIGNCTL_SECRET: set the current secret too (old ones only verify)")
		return 2
	}
	eventsToken := getenv(httpapi.EventsTokenEnv)
	if eventsToken != "" {
		if err := httpapi.CheckEventsToken(eventsToken); err != nil {
			fmt.Fprintln(stderr, "campaignctl serve:", err)
			return 2
		}
	}
	uiToken, code := uiTokenFromEnv(getenv, *ui, *listen, eventsToken, stderr)
	if code != 0 {
		return code
	}
	dkimSigner, err := dkimFromFlags(getenv, *dkimDomain, *dkimSelector, *dkimKeyFile)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl serve:", err)
		return 2
	}
	inboundCfg, err := inboundFromFlags(getenv, *inboundAddr, *bounceDomain, *replyDomain, *inboundDomains, *inboundMemory, *inboundSession)
	if err != nil {
		fmt.Fprintln(stderr, "campaignctl serve:", err)
		return 2
	}
	if *worker == "" {
		host, _ := os.Hostname()
		*worker = fmt.Sprintf("%s-%d", host, os.Getpid())
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(stderr, "campaignctl serve: --cpuprofile:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "campaignctl serve: --cpuprofile:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Listen first: while the daemon waits for the database, its probes
	// answer (alive, not ready) instead of refusing connections, and the
	// routes switch over once the store is open.
	errc, errc2 := make(chan error, 1), make(chan error, 1)
	var l, ml net.Listener
	var front, internal *httpapi.Switch
	if *metricsListen != "" {
		ml, err = net.Listen("tcp", *metricsListen)
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl serve: --metrics-listen %s: %v\n", *metricsListen, err)
			return 1
		}
		internal = httpapi.NewSwitch(httpapi.Starting())
		go func() { errc2 <- httpapi.Serve(ctx, ml, internal) }()
		log.Info("serving /metrics, /healthz and /readyz", "addr", ml.Addr().String())
	}
	if *listen != "" {
		l, err = net.Listen("tcp", *listen)
		if err != nil {
			fmt.Fprintf(stderr, "campaignctl serve: --listen %s: %v\n", *listen, err)
			return 1
		}
		front = httpapi.NewSwitch(httpapi.Starting())
		go func() { errc <- httpapi.Serve(ctx, l, front) }()
		log.Info("serving HTTP", "addr", l.Addr().String())
	}

	st, err := openMigratedRetrying(ctx, *db, *dbWait, log)
	if err != nil {
		if ctx.Err() != nil {
			// SIGTERM while waiting for the database: nothing was claimed.
			log.Info("stopped before the database answered")
			return 0
		}
		fmt.Fprintln(stderr, "campaignctl serve:", err)
		return 1
	}
	defer st.Close()
	envProcs := getenv("GOMAXPROCS") != ""
	local := false
	if procs == 0 && !envProcs {
		if local, err = st.ServerOnThisMachine(ctx); err != nil {
			log.Warn("cannot tell where the database runs; taking all of the CPUs", "err", err)
		}
	}
	nprocs, procsWhy := serveProcs(procs, envProcs, setProcs(0), local)
	setProcs(nprocs)
	st.Log = log
	st.SetMaxConns(*dbConns)
	// Forgotten people are on the suppression list as keyed hashes: without
	// their key this daemon could not recognise them, so it does not start.
	if k := getenv(store.ErasureKeyEnv); k != "" {
		if st.Erasure, err = store.NewErasure([]byte(k)); err != nil {
			fmt.Fprintln(stderr, "campaignctl serve:", err)
			return 2
		}
	}
	if err := st.CheckErasureKey(ctx); err != nil {
		fmt.Fprintln(stderr, "campaignctl serve:", err)
		return 2
	}
	// Marketing mail must carry a working unsubscribe link: refuse to start
	// rather than send href="" (the engine also refuses such a revision applied
	// later, and says so in the log).
	// It also names what the plan declares and this daemon does not run yet.
	if rev, err := st.LatestRevision(ctx); err == nil {
		if p, err := plan.Decode([]byte(rev.Plan)); err == nil {
			if *publicURL == "" && engine.HasMarketing(p) {
				fmt.Fprintf(stderr, "campaignctl serve: revision %d has marketing campaigns, which must carry a working unsubscribe link: pass --public-url https://… (the address where this daemon's /u/ links are reachable) and set CAMPAIGNCTL_SECRET\n", rev.ID)
				return 2
			}
			for _, line := range engine.NotRun(p) {
				log.Warn("the applied plan has what this daemon does not run", "revision", rev.ID, "what", line)
			}
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	storeGauges := metrics.NewStoreCollector(st.DB) // enrollments and the outbox backlog, read on scrape
	storeGauges.MinInterval = *storeEvery
	reg.MustRegister(storeGauges)
	smtps := smtpImplicitTLS(*smtpAddr, *implicitTLS, implicitTLSSet)
	smtpClient := &mailer.SMTP{Addr: *smtpAddr, RequireTLS: *requireTLS, ImplicitTLS: smtps, DialTimeout: *smtpTimeout, CommandTimeout: *smtpTimeout, DataTimeout: *dataTimeout, MaxConns: *concurrency, DKIM: dkimSigner}
	if *smtpUser != "" {
		smtpClient.Auth = &mailer.Auth{Username: *smtpUser, Password: getenv("CAMPAIGNCTL_SMTP_PASSWORD")}
	}
	defer smtpClient.Close()
	eng := &engine.Engine{
		Store: st, Mailer: smtpClient, Clock: clk, Links: signer, Metrics: m, Log: log,
		PublicURL: *publicURL, NoTracking: *noTracking, Worker: *worker, Concurrency: *concurrency,
		Lease: *lease, LedgerBatch: *ledgerBatch, GiveUpAfter: *giveUp, ShutdownGrace: *grace, EnrollInterval: *enrollEvery,
	}
	smtpClient.OnConnLimit = eng.ConnLimitChanged
	m.SMTPConnLimit.Set(float64(*concurrency))
	stopInbound, code := startInbound(ctx, inboundCfg, st, eng, clk, log, m, stderr)
	if code != 0 {
		return code
	}
	defer stopInbound()

	stopTracker := func() {}
	if *listen != "" {
		// Opens and clicks are served whenever links can be verified, also with
		// --no-tracking, so links already in inboxes keep working. The tracker
		// outlives the HTTP server: it writes what the last requests queued.
		var tracker *httpapi.Tracker
		if signer != nil {
			tracker = httpapi.NewTracker(st, log, reg, httpapi.TrackerOptions{})
			tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			done := make(chan struct{})
			go func() { defer close(done); tracker.Run(tctx) }()
			stopTracker = func() { cancel(); <-done }
		}
		srv := &httpapi.Server{Gatherer: reg, DB: st.DB, Suppressor: st, Links: signer, Clock: clk, Log: log, Relay: relayHealth(eng),
			Events: st, EventsToken: eventsToken, EventsStored: eng.EventsArrived, Tracker: tracker, Limits: limits,
			Consent: st, Subscriptions: newPerRevision(st, subscriptionTypes).get, PreferenceDefaults: eng.PreferenceDefaults,
			EventSchema: newPerRevision(st, events.SchemaOf).get}
		if *ui {
			page, err := statuspage.New(statuspage.Options{Source: &uiSource{st: st, now: clk.Now}, Token: uiToken, Log: log})
			if err != nil {
				fmt.Fprintln(stderr, "campaignctl serve:", err)
				return 2
			}
			srv.UI = page
		}
		if internal != nil {
			front.Set(srv.PublicHandler())
			internal.Set(srv.InternalHandler())
		} else {
			front.Set(srv.Handler())
		}
		if *ui {
			log.Info("serving the status page", "url", "http://"+l.Addr().String()+statuspage.Prefix+"/")
		}
	}
	log.Info("daemon started", "worker", *worker, "smtp", *smtpAddr, "smtp_tls", smtpTLSMode(smtps, *requireTLS), "db", store.Redact(*db), "procs", nprocs, "procs_from", procsWhy)
	runErr := eng.Run(ctx, engine.RunOptions{Interval: *interval, ExitWhenIdle: *exitIdle})
	stop()
	if *listen != "" {
		err := <-errc
		if ml != nil {
			if err2 := <-errc2; err == nil {
				err = err2
			}
		}
		stopTracker()
		if err != nil {
			fmt.Fprintln(stderr, "campaignctl serve: http:", err)
			return 1
		}
	}
	if runErr != nil && runErr != context.Canceled {
		fmt.Fprintln(stderr, "campaignctl serve:", runErr)
		return 1
	}
	return 0
}

// uiTokenFromEnv returns the status page's token: $CAMPAIGNCTL_UI_TOKEN, else
// the events token (already checked). Only the environment is read, so the
// token never shows in a process listing; it is never logged. Without --ui it
// returns "" and accepts anything.
func uiTokenFromEnv(getenv func(string) string, ui bool, listen, eventsToken string, stderr io.Writer) (string, int) {
	if !ui {
		return "", 0
	}
	if listen == "" {
		fmt.Fprintln(stderr, "campaignctl serve: --ui needs HTTP: give --listen an address (e.g. 127.0.0.1:9464)")
		return "", 2
	}
	if tok := getenv(statuspage.TokenEnv); tok != "" {
		if err := statuspage.CheckToken(statuspage.TokenEnv, tok); err != nil {
			fmt.Fprintln(stderr, "campaignctl serve:", err)
			return "", 2
		}
		return tok, 0
	}
	if eventsToken != "" {
		return eventsToken, 0
	}
	fmt.Fprintf(stderr, "campaignctl serve: --ui needs a token so the page is not open to anyone who reaches --listen: set %s (or %s) in the daemon's environment to a random value, e.g. `openssl rand -hex 32`\n",
		statuspage.TokenEnv, httpapi.EventsTokenEnv)
	return "", 2
}

// relayHealth adapts the engine's relay state for /healthz.
func relayHealth(eng *engine.Engine) func() (string, string) {
	return func() (string, string) {
		h := eng.RelayHealth()
		return h.State, h.Reason
	}
}

// smtpImplicitTLS decides --smtp-implicit-tls: as given, or, when it was not
// given, on for a relay on port 465 (SMTPS), where a plain client would wait
// for a greeting that never comes.
func smtpImplicitTLS(addr string, flag, given bool) bool {
	if given {
		return flag
	}
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "465"
}

// smtpTLSMode says in the "daemon started" line how the relay is spoken to.
func smtpTLSMode(implicit, required bool) string {
	switch {
	case implicit:
		return "implicit (SMTPS)"
	case required:
		return "STARTTLS, required"
	}
	return "STARTTLS when offered"
}
