package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/campaignctl/campaignctl/runtime/clock"
	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/inbound"
	"github.com/campaignctl/campaignctl/runtime/links"
	"github.com/campaignctl/campaignctl/runtime/metrics"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// inboundConfig is what serve's --inbound, --bounce-domain, --reply-domain,
// --inbound-domain, --inbound-memory-mib and --inbound-session-max ask for.
type inboundConfig struct {
	listen  string
	addrs   *inbound.Addresses // nil: messages keep From as their return path
	domains []string
	memory  int64         // the listener's MemoryBudget
	session time.Duration // the listener's SessionTimeout
}

// inboundFromFlags checks the inbound flags. The addresses are signed with
// $CAMPAIGNCTL_SECRET (older secrets in $CAMPAIGNCTL_SECRET_OLD still verify).
// --bounce-domain works without --inbound: another replica (or an MTA that
// hands the mail to it) may run the listener.
func inboundFromFlags(getenv func(string) string, listen, bounceDomain, replyDomain, extraDomains string, memoryMiB int, sessionMax time.Duration) (inboundConfig, error) {
	cfg := inboundConfig{listen: listen, memory: int64(memoryMiB) << 20, session: sessionMax}
	if least := inbound.DefaultMaxMessageBytes >> 20; memoryMiB < least {
		return cfg, fmt.Errorf("--inbound-memory-mib %d: want at least %d, the size of one message (the default is %d)", memoryMiB, least, inbound.DefaultMemoryBudget>>20)
	}
	// Shorter than one read's timeout, a session could end while its client
	// is still within the time it was given to send the next line.
	if sessionMax < inbound.DefaultTimeout {
		return cfg, fmt.Errorf("--inbound-session-max %s: want at least %s, the time a client has for each read (the default is %s)", sessionMax, inbound.DefaultTimeout, inbound.DefaultSessionTimeout)
	}
	for _, d := range strings.Split(extraDomains, ",") {
		if d = strings.TrimSpace(d); d != "" {
			cfg.domains = append(cfg.domains, d)
		}
	}
	if bounceDomain == "" && replyDomain == "" {
		if listen != "" && len(cfg.domains) == 0 {
			return cfg, errors.New("--inbound needs the domains it takes mail for: --bounce-domain (VERP return paths), --reply-domain or --inbound-domain")
		}
		return cfg, nil
	}
	secret := getenv("CAMPAIGNCTL_SECRET")
	if secret == "" {
		return cfg, errors.New("--bounce-domain and --reply-domain sign their addresses with CAMPAIGNCTL_SECRET (≥ 16 bytes): set it")
	}
	tokens, err := inbound.NewTokens([]byte(secret), links.SplitSecrets(getenv("CAMPAIGNCTL_SECRET_OLD"))...)
	if err != nil {
		return cfg, err
	}
	for _, d := range []string{bounceDomain, replyDomain} {
		if d != "" && (strings.ContainsAny(d, "@<> \t") || !strings.Contains(d, ".")) {
			return cfg, fmt.Errorf("domain %q: want a domain name such as bounces.example.com", d)
		}
	}
	cfg.addrs = &inbound.Addresses{Tokens: tokens, BounceDomain: bounceDomain, ReplyDomain: replyDomain}
	return cfg, nil
}

// startInbound gives the engine its addresses and, with --inbound, starts the
// listener; stop ends it and waits for open sessions to close.
func startInbound(ctx context.Context, cfg inboundConfig, st *store.Store, eng *engine.Engine, clk clock.Clock, log *slog.Logger, m *metrics.Metrics, stderr io.Writer) (stop func(), code int) {
	if cfg.addrs != nil {
		eng.Inbound = cfg.addrs
	}
	if cfg.listen == "" {
		return func() {}, 0
	}
	l, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		fmt.Fprintf(stderr, "campaignctl serve: --inbound %s: %v\n", cfg.listen, err)
		return nil, 1
	}
	host, _ := os.Hostname()
	srv := cfg.server(st, eng, clk, log, m, host)
	ictx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ictx, l); err != nil {
			log.Error("inbound listener stopped", "err", err)
		}
	}()
	log.Info("serving inbound SMTP", "addr", l.Addr().String())
	return func() { cancel(); <-done }, 0
}

// server is the listener the flags describe.
func (cfg inboundConfig) server(st *store.Store, eng *engine.Engine, clk clock.Clock, log *slog.Logger, m *metrics.Metrics, host string) *inbound.Server {
	return &inbound.Server{Store: st, Addresses: cfg.addrs, Domains: cfg.domains, Objects: eng.ObjectOf,
		Clock: clk, Log: log, Metrics: m, Hostname: host, MemoryBudget: cfg.memory, SessionTimeout: cfg.session}
}
