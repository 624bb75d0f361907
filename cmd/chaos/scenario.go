package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/campaignctl/campaignctl/runtime/mailer/smtptest"
)

// campaigns is what the replicas run: a campaign to everyone, a three-step
// sequence to every third contact (its steps an hour apart on the
// accelerated clock), an event-triggered workflow with a wait and a branch
// for every fifth, and an autoresponder to every seventh (mail someone waits
// for: claim-due's first lane). Each message's subject names it, which is how the harness
// counts what the relay received.
const campaigns = `
model "c" {
  table = "contacts"
  key   = "id"
  email = "email"
  field "id" { type = "int" }
  field "name" { type = "string" }
}

segment "everyone" {
  model  = "c"
  filter = "true"
}

segment "every_third" {
  model  = "c"
  filter = "c.id % 3 == 0"
}

sender "news" {
  from     = "Acme <news@acme.example>"
  reply_to = "hello@acme.example"
}

template "hello" {
  class   = "marketing"
  subject = "Hello {{ .c.name }}"
  text    = "Hello {{ .c.name }}. Unsubscribe: {{ .unsubscribe_url }}"
}

campaign "chaos_blast" {
  segment  = "everyone"
  template = "hello"
  sender   = "news"
}

template "nurture_one" {
  subject = "Nurture one"
  text    = "Step one. Unsubscribe: {{ .unsubscribe_url }}"
}

template "nurture_two" {
  subject = "Nurture two"
  text    = "Step two. Unsubscribe: {{ .unsubscribe_url }}"
}

template "nurture_three" {
  subject = "Nurture three"
  text    = "Step three. Unsubscribe: {{ .unsubscribe_url }}"
}

sequence "chaos_nurture" {
  model   = "c"
  segment = "every_third"
  sender  = "news"
  step "one" {
    offset   = "0s"
    template = "nurture_one"
  }
  step "two" {
    offset   = "1h"
    template = "nurture_two"
  }
  step "three" {
    offset   = "2h"
    template = "nurture_three"
  }
}

segment "every_seventh" {
  model  = "c"
  filter = "c.id % 7 == 0"
}

template "auto_hi" {
  subject = "Auto hi"
  text    = "Thanks for signing up. Unsubscribe: {{ .unsubscribe_url }}"
}

autoresponder "chaos_auto" {
  model   = "c"
  segment = "every_seventh"
  sender  = "news"
  mode    = "single"
  start   = "2026-01-01"
  follow_up "hi" {
    offset   = "0d"
    template = "auto_hi"
  }
}

template "flow_one" {
  subject = "Flow one"
  text    = "First. Unsubscribe: {{ .unsubscribe_url }}"
}

template "flow_two" {
  subject = "Flow two"
  text    = "Second. Unsubscribe: {{ .unsubscribe_url }}"
}

workflow "chaos_flow" {
  type   = "upsell"
  model  = "c"
  sender = "news"
  trigger {
    event = "purchase"
  }
  step "first" {
    send = "flow_one"
  }
  step "pause" {
    wait = "30m"
  }
  step "even" {
    if   = "c.id % 2 == 0"
    then = "second"
    else = "done"
  }
  step "second" {
    send = "flow_two"
  }
  step "done" {
    exit = true
  }
}
`

// message is one kind of message of the scenario: its subject (a prefix of
// it), the ledger's (kind, object, step) and which contacts it is due to.
type message struct {
	subject            string
	kind, object, step string
	due                func(id int) bool
}

var messages = []message{
	{"Hello", "campaign", "chaos_blast", "", func(int) bool { return true }},
	{"Nurture one", "sequence", "chaos_nurture", "one", func(id int) bool { return id%3 == 0 }},
	{"Nurture two", "sequence", "chaos_nurture", "two", func(id int) bool { return id%3 == 0 }},
	{"Nurture three", "sequence", "chaos_nurture", "three", func(id int) bool { return id%3 == 0 }},
	{"Flow one", "workflow", "chaos_flow", "first", func(id int) bool { return id%5 == 0 }},
	{"Flow two", "workflow", "chaos_flow", "second", func(id int) bool { return id%10 == 0 }},
	{"Auto hi", "autoresponder", "chaos_auto", "hi", func(id int) bool { return id%7 == 0 }},
}

// messageOf returns the scenario message a subject line belongs to.
func messageOf(subject string) (message, bool) {
	// Longest prefix first: "Nurture one" and "Hello Contact 1".
	for _, m := range messages {
		if m.subject == "Hello" {
			continue
		}
		if subject == m.subject {
			return m, true
		}
	}
	if strings.HasPrefix(subject, "Hello ") {
		return messages[0], true
	}
	return message{}, false
}

// ledgerMessage returns the scenario message of a ledger row.
func ledgerMessage(kind, object, step string) (message, bool) {
	for _, m := range messages {
		if m.kind == kind && m.object == object && m.step == step {
			return m, true
		}
	}
	return message{}, false
}

func email(id int) string { return "c" + strconv.Itoa(id) + "@example.com" }

// idOf returns the contact id of a scenario address, or 0.
func idOf(addr string) int {
	local, _, ok := strings.Cut(strings.ToLower(addr), "@")
	if !ok || !strings.HasPrefix(local, "c") {
		return 0
	}
	id, err := strconv.Atoi(local[1:])
	if err != nil {
		return 0
	}
	return id
}

// Planted relay faults: every Nth contact id gets one. Every recipient-level
// fault but the hard bounce is transient: the relay fails the first attempts
// only, so the message must arrive in the end, once. A 421, a reset and a
// stall take the whole connection down and pause the replica's sending for a
// moment (the relay looks unavailable), so they are rarer.
type Planted struct {
	Hard  int // RCPT 550 5.1.1, always: failed, suppressed, never retried
	Soft  int // RCPT 451 4.3.0 on the first two attempts
	R421  int // RCPT 421 4.4.2 (and the relay hangs up) on the first attempt
	Drop  int // the connection is reset mid-DATA on the first attempt
	Stall int // no answer after the final dot on the first attempt: the client times out
}

func every(n, id int) bool { return n > 0 && id > 0 && id%n == 0 }

func (p Planted) hard(id int) bool { return every(p.Hard, id) }

// faults decides the relay's planted answers per recipient and counts how
// many it gave.
type faults struct {
	p        Planted
	mu       sync.Mutex
	attempts map[string]int // RCPTs seen per recipient
	dataSeen map[string]int // bodies started per recipient
	dotSeen  map[string]int // bodies ended per recipient
	given    map[string]int // fault name → times given
}

func newFaults(p Planted) *faults {
	return &faults{p: p, attempts: map[string]int{}, dataSeen: map[string]int{}, dotSeen: map[string]int{}, given: map[string]int{}}
}

func (f *faults) install(r *smtptest.Relay, rcptDelay func()) {
	r.SetReply(smtptest.StageRcpt, func(_, rcpt string) *smtptest.Reply {
		rcptDelay()
		id := idOf(rcpt)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.attempts[rcpt]++
		n := f.attempts[rcpt]
		switch {
		case f.p.hard(id):
			f.given["550 5.1.1 (hard)"]++
			return &smtptest.Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user"}
		case every(f.p.Soft, id) && n <= 2:
			f.given["451 4.3.0"]++
			return &smtptest.Reply{Code: 451, Enhanced: "4.3.0", Text: "try again later"}
		case every(f.p.R421, id) && n == 1:
			f.given["421 4.4.2"]++
			return &smtptest.Reply{Code: 421, Enhanced: "4.4.2", Text: "closing"}
		}
		return nil
	})
	r.SetDropMidData(func(rcpt string) bool {
		id := idOf(rcpt)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dataSeen[rcpt]++
		if every(f.p.Drop, id) && f.dataSeen[rcpt] == 1 {
			f.given["reset mid-DATA"]++
			return true
		}
		return false
	})
	// The stall rule never changes during a run: a stalled session stays
	// blocked (the client gave up) until the relay closes, and never records
	// a delivery.
	r.SetStall(func(rcpt string) bool {
		id := idOf(rcpt)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.dotSeen[rcpt]++
		if every(f.p.Stall, id) && f.dotSeen[rcpt] == 1 {
			f.given["stall after the dot"]++
			return true
		}
		return false
	})
}

func (f *faults) summary() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var parts []string
	for _, k := range []string{"550 5.1.1 (hard)", "451 4.3.0", "421 4.4.2", "reset mid-DATA", "stall after the dot"} {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, f.given[k]))
	}
	return strings.Join(parts, ", ")
}
