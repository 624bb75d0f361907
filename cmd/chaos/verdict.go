package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// key names one due message: a recipient and a scenario message.
type key struct {
	id  int
	msg int // index in messages
}

// row is what the ledger (the outbox) says of one message.
type row struct {
	status, reason string
}

// tally is what the relay received and the ledger recorded, per message.
type tally struct {
	delivered  map[key]int
	strangers  int // deliveries that belong to no due message
	ledger     map[key]row
	suppressed map[int]string // contact id → suppression reason
}

func newTally() *tally {
	return &tally{delivered: map[key]int{}, ledger: map[key]row{}, suppressed: map[int]string{}}
}

// line is one row of the verdict table: a scenario message.
type line struct {
	subject                      string
	due, delivered, failedReason int
	lost, dups, mismatch         int
}

// verdict is the harness's conclusion.
type verdict struct {
	lines                                 []line
	due, delivered, failedReason          int
	lost, dups, mismatch, strangers       int
	wrongSuppressions, missedSuppressions int
	worst                                 int // most deliveries of one message
	bound                                 int // duplicates the in-flight window allows
	examples                              []string
}

// judge compares what was due with what the relay received and what the
// ledger recorded:
//   - lost: due, never delivered, and not failed for a recorded reason (a
//     'failed' or 'cancelled' ledger row with its reason, or an address
//     suppressed before the message was enqueued);
//   - duplicates: deliveries of one message beyond the first;
//   - mismatches: the ledger says sent and nothing arrived, or something
//     arrived and the ledger says it failed;
//   - wrong suppressions: a contact suppressed that the relay never refused
//     for good (one refusal must not suppress others), and missed ones: a
//     hard-refused contact not suppressed.
func judge(contacts int, hard func(id int) bool, t *tally, bound int) verdict {
	v := verdict{bound: bound, strangers: t.strangers}
	v.lines = make([]line, len(messages))
	for i, m := range messages {
		v.lines[i].subject = m.subject
	}
	example := func(format string, args ...any) {
		if len(v.examples) < 12 {
			v.examples = append(v.examples, fmt.Sprintf(format, args...))
		}
	}
	for id := 1; id <= contacts; id++ {
		for i, m := range messages {
			if !m.due(id) {
				continue
			}
			k := key{id, i}
			l := &v.lines[i]
			l.due++
			n := t.delivered[k]
			r, inLedger := t.ledger[k]
			v.worst = max(v.worst, n)
			switch {
			case n > 0:
				l.delivered++
				l.dups += n - 1
				if inLedger && r.status != "sent" {
					l.mismatch++
					example("%s %q: delivered %d× but the ledger says %s (%s)", email(id), m.subject, n, r.status, r.reason)
				}
			case inLedger && (r.status == "failed" || r.status == "cancelled") && r.reason != "":
				l.failedReason++
			case !inLedger && t.suppressed[id] != "":
				l.failedReason++ // suppressed before it was enqueued
			case inLedger && r.status == "sent":
				l.mismatch++
				l.lost++
				example("%s %q: the ledger says sent, the relay never received it", email(id), m.subject)
			default:
				l.lost++
				if inLedger {
					example("%s %q: lost (ledger: %s %s)", email(id), m.subject, r.status, r.reason)
				} else {
					example("%s %q: lost (no ledger row)", email(id), m.subject)
				}
			}
		}
		_, sup := t.suppressed[id]
		if sup && !hard(id) {
			v.wrongSuppressions++
			example("%s is suppressed (%s) though the relay never refused it for good", email(id), t.suppressed[id])
		}
		if !sup && hard(id) {
			v.missedSuppressions++
			example("%s was refused with 550 5.1.1 but is not suppressed", email(id))
		}
	}
	for _, l := range v.lines {
		v.due += l.due
		v.delivered += l.delivered
		v.failedReason += l.failedReason
		v.lost += l.lost
		v.dups += l.dups
		v.mismatch += l.mismatch
	}
	return v
}

// failures lists what makes the run fail; none means it passed.
func (v verdict) failures() []string {
	var out []string
	if v.lost > 0 {
		out = append(out, fmt.Sprintf("%d messages lost", v.lost))
	}
	if v.dups > v.bound {
		out = append(out, fmt.Sprintf("%d duplicates exceed the in-flight window's %d", v.dups, v.bound))
	}
	if v.mismatch > 0 {
		out = append(out, fmt.Sprintf("%d ledger rows disagree with the relay", v.mismatch))
	}
	if v.strangers > 0 {
		out = append(out, fmt.Sprintf("%d deliveries were due to nobody", v.strangers))
	}
	if v.wrongSuppressions > 0 {
		out = append(out, fmt.Sprintf("%d contacts suppressed without a hard refusal", v.wrongSuppressions))
	}
	if v.missedSuppressions > 0 {
		out = append(out, fmt.Sprintf("%d hard refusals not suppressed", v.missedSuppressions))
	}
	return out
}

// print writes the verdict table.
func (v verdict) print(w io.Writer) {
	fmt.Fprintf(w, "%-16s %8s %10s %14s %6s %11s %9s\n", "message", "due", "delivered", "failed+reason", "lost", "duplicates", "mismatch")
	for _, l := range v.lines {
		fmt.Fprintf(w, "%-16s %8d %10d %14d %6d %11d %9d\n", l.subject, l.due, l.delivered, l.failedReason, l.lost, l.dups, l.mismatch)
	}
	fmt.Fprintf(w, "%-16s %8d %10d %14d %6d %11d %9d\n", "total", v.due, v.delivered, v.failedReason, v.lost, v.dups, v.mismatch)
	inWindow := min(v.dups, v.bound)
	fmt.Fprintf(w, "duplicates inside the in-flight window: %d of %d allowed; outside it: %d; most deliveries of one message: %d\n",
		inWindow, v.bound, v.dups-inWindow, v.worst)
	fmt.Fprintf(w, "deliveries due to nobody: %d; suppressed without a hard refusal: %d; hard refusals not suppressed: %d\n",
		v.strangers, v.wrongSuppressions, v.missedSuppressions)
	if f := v.failures(); len(f) > 0 {
		fmt.Fprintf(w, "FAIL: %s\n", strings.Join(f, "; "))
		ex := append([]string(nil), v.examples...)
		sort.Strings(ex)
		for _, e := range ex {
			fmt.Fprintf(w, "  e.g. %s\n", e)
		}
	} else {
		fmt.Fprintln(w, "PASS: nothing lost, no duplicate outside the in-flight window")
	}
}
