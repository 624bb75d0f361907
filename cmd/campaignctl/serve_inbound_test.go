package main

import (
	"strings"
	"testing"
)

// --inbound-memory-mib becomes the listener's MemoryBudget; less than one
// message would refuse every large message for good, so it is an error
// naming the flag, the value and the least.
func TestInboundMemoryFlag(t *testing.T) {
	getenv := func(string) string { return "" }
	cfg, err := inboundFromFlags(getenv, ":0", "", "", "shop.example", 128)
	if err != nil || cfg.memory != 128<<20 {
		t.Fatalf("--inbound-memory-mib 128: %+v, %v; want a budget of 128 MiB", cfg, err)
	}
	_, err = inboundFromFlags(getenv, ":0", "", "", "shop.example", 4)
	if err == nil || !strings.Contains(err.Error(), "--inbound-memory-mib 4: want at least 10") {
		t.Fatalf("--inbound-memory-mib 4: %v; want an error naming the flag and the least", err)
	}
}
