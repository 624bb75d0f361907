package main

import (
	"strings"
	"testing"
	"time"

	"github.com/campaignctl/campaignctl/runtime/engine"
	"github.com/campaignctl/campaignctl/runtime/inbound"
)

// --inbound-memory-mib becomes the listener's MemoryBudget; less than one
// message would refuse every large message for good, so it is an error
// naming the flag, the value and the least.
func TestInboundMemoryFlag(t *testing.T) {
	getenv := func(string) string { return "" }
	cfg, err := inboundFromFlags(getenv, ":0", "", "", "shop.example", 128, inbound.DefaultSessionTimeout)
	if err != nil || cfg.memory != 128<<20 {
		t.Fatalf("--inbound-memory-mib 128: %+v, %v; want a budget of 128 MiB", cfg, err)
	}
	_, err = inboundFromFlags(getenv, ":0", "", "", "shop.example", 4, inbound.DefaultSessionTimeout)
	if err == nil || !strings.Contains(err.Error(), "--inbound-memory-mib 4: want at least 10") {
		t.Fatalf("--inbound-memory-mib 4: %v; want an error naming the flag and the least", err)
	}
}

// --inbound-session-max becomes the listener's SessionTimeout (so a sender of
// large messages over a slow link can be given longer than the default ten
// minutes); shorter than one read's timeout is an error naming the flag, the
// value and the least.
func TestInboundSessionMaxFlag(t *testing.T) {
	getenv := func(string) string { return "" }
	cfg, err := inboundFromFlags(getenv, ":0", "", "", "shop.example", 128, 45*time.Minute)
	if err != nil {
		t.Fatalf("--inbound-session-max 45m: %v", err)
	}
	if got := cfg.server(nil, &engine.Engine{}, nil, nil, nil, "mx.test").SessionTimeout; got != 45*time.Minute {
		t.Fatalf("--inbound-session-max 45m: the listener's session limit is %s, want 45m", got)
	}
	_, err = inboundFromFlags(getenv, ":0", "", "", "shop.example", 128, 30*time.Second)
	if err == nil || !strings.Contains(err.Error(), "--inbound-session-max 30s: want at least 1m0s") {
		t.Fatalf("--inbound-session-max 30s: %v; want an error naming the flag and the least", err)
	}
}
