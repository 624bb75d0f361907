package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// timeline lists what one contact did (its events) and what was sent to it
// (its messages, of every kind of object) in one time-ordered list: the raw
// history that explain interprets. It only reads.

// timelineFormatVersion is the format_version of `timeline --format json`.
// Fields may be added without a bump; a field removed or given another meaning
// bumps it.
const timelineFormatVersion = 1

// timelineDoc is what `campaignctl timeline --format json` prints:
//
//	{
//	  "format_version": 1,
//	  "contacts": [{                 // one per contact CONTACT names
//	    "model": "lead", "key": "42", "email": "…" ("" when none),
//	    "truncated": bool,           // older entries were left out (see --limit)
//	    "entries": [{                // oldest first
//	      "at": "RFC 3339, UTC",     // event: occurred_at; message: sent_at, else created_at
//	      "source": "event" | "message",
//	      // event:
//	      "type": "open", "object": "…" (the event's campaign, omitted if ""),
//	      "step": "…", "topic": "…", "url": "…"   (each omitted if "")
//	      // message:
//	      "kind": "campaign" | "sequence" | …, "object": "…", "step": "…" (omitted if ""),
//	      "variant": "…" (omitted if ""), "status": "pending" | "sent" | "failed" | "cancelled",
//	      "created_at": "RFC 3339", "due_at": "RFC 3339", "sent_at": "RFC 3339" (omitted),
//	      "last_error": "…" (omitted if none)
//	    }]
//	  }]
//	}
type timelineDoc struct {
	FormatVersion int               `json:"format_version"`
	Contacts      []timelineContact `json:"contacts"`
}

type timelineContact struct {
	Model     string          `json:"model"`
	Key       string          `json:"key"`
	Email     string          `json:"email"`
	Truncated bool            `json:"truncated"`
	Entries   []timelineEntry `json:"entries"`
}

type timelineEntry struct {
	At     time.Time `json:"at"`
	Source string    `json:"source"`
	// Events.
	Type  string `json:"type,omitempty"`
	Topic string `json:"topic,omitempty"`
	URL   string `json:"url,omitempty"`
	// Messages.
	Kind      string     `json:"kind,omitempty"`
	Object    string     `json:"object,omitempty"`
	Step      string     `json:"step,omitempty"`
	Variant   string     `json:"variant,omitempty"`
	Status    string     `json:"status,omitempty"`
	CreatedAt *time.Time `json:"created_at,omitempty"`
	DueAt     *time.Time `json:"due_at,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
	LastError string     `json:"last_error,omitempty"`

	id int64 // breaks ties of one instant within a source
}

// defaultTimelineLimit keeps the text view to a screenful or two of recent
// history; --limit 0 shows everything.
const defaultTimelineLimit = 100

func runTimeline(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("timeline", "timeline --db URL [--limit N] [--format text|json] CONTACT", `
List a contact's events (opens, clicks, page views, … as stored by the daemon
and campaignctl events import) and the messages sent or queued to it by every
campaign and sequence, merged in time order, oldest first. A message is placed
at its sending time, or when it was queued if it has not gone out.

CONTACT is MODEL:KEY (lead:42) or an email address, which lists every contact
of every model with that address. --limit keeps the N most recent entries per
contact (0: all).


Exit status: 0 ok (also when nothing is applied yet), 1 error, 2 usage.`, `  campaignctl timeline --db "$CAMPAIGNCTL_DB" lead:42
  campaignctl timeline --db "$CAMPAIGNCTL_DB" ann@example.com --limit 20
  campaignctl timeline --db "$CAMPAIGNCTL_DB" lead:42 --format json | jq '.contacts[].entries[] | select(.source == "message")'`, stderr)
	db := dbFlag(fs)
	format := textOrJSONFlag(fs)
	limit := fs.Int("limit", defaultTimelineLimit, "show the `N` most recent entries per contact (0: all)")
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) != 1 {
		fmt.Fprintf(stderr, "campaignctl timeline: want exactly one CONTACT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	if !checkTextOrJSON(fs, *format, stderr) || !needDB(*db, stderr) || !checkLimit(fs, *limit, stderr) {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "campaignctl timeline:", err)
		return 1
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		return fail(err)
	}
	defer st.Close()

	_, p, err := appliedPlan(ctx, st)
	if errors.Is(err, store.ErrNoRevision) {
		if *format == "json" {
			fmt.Fprintln(stderr, "campaignctl timeline:", nothingApplied)
			return boolExit(writeJSON(stdout, timelineDoc{FormatVersion: timelineFormatVersion, Contacts: []timelineContact{}}) == nil)
		}
		fmt.Fprintln(stdout, nothingApplied)
		return 0
	}
	if err != nil {
		return fail(err)
	}
	contacts, err := resolveContacts(ctx, st.DB, p, pos[0])
	if err != nil {
		return fail(err)
	}
	doc, err := readTimelines(ctx, st, p, contacts, *limit)
	if err != nil {
		return fail(err)
	}
	if *format == "json" {
		return boolExit(writeJSON(stdout, doc) == nil)
	}
	return boolExit(writeTimelineText(stdout, doc) == nil)
}

func checkLimit(fs *flag.FlagSet, n int, stderr io.Writer) bool {
	if n >= 0 {
		return true
	}
	fmt.Fprintf(stderr, "campaignctl %s: --limit %d: want 0 (all) or more\n", fs.Name(), n)
	return false
}

// readTimelines reads the timeline of each of contacts (resolved against p):
// what timeline and the status page's contact lookup print.
func readTimelines(ctx context.Context, st *store.Store, p *plan.Plan, contacts []contactRecord, limit int) (timelineDoc, error) {
	doc := timelineDoc{FormatVersion: timelineFormatVersion, Contacts: []timelineContact{}}
	for _, c := range contacts {
		tc, err := readTimeline(ctx, st, p, c, limit)
		if err != nil {
			return doc, err
		}
		doc.Contacts = append(doc.Contacts, tc)
	}
	return doc, nil
}

// readTimeline reads the latest limit events and messages of c and merges
// them. One more than limit of each is read, so that whether older entries
// exist is known without counting them.
func readTimeline(ctx context.Context, st *store.Store, p *plan.Plan, c contactRecord, limit int) (timelineContact, error) {
	tc := timelineContact{Model: c.model.Name, Key: c.key, Email: c.email, Entries: []timelineEntry{}}
	fetch := 0
	if limit > 0 {
		fetch = limit + 1
	}
	events, err := st.ContactEvents(ctx, c.model.Name, c.key, fetch)
	if err != nil {
		return tc, err
	}
	mine, declared := planObjects(p, c.model.Name)
	msgs, err := st.ContactMessages(ctx, c.key, mine, declared, c.normalizedEmail(), fetch)
	if err != nil {
		return tc, needsMigrate(err)
	}
	for _, e := range events {
		tc.Entries = append(tc.Entries, timelineEntry{At: e.OccurredAt.UTC(), Source: "event", Type: e.Type,
			Object: e.Campaign, Step: e.Step, Topic: e.Topic, URL: e.URL, id: e.ID})
	}
	for _, m := range msgs {
		created, due := m.CreatedAt.UTC(), m.DueAt.UTC()
		e := timelineEntry{At: created, Source: "message", Kind: m.Kind, Object: m.Object, Step: m.Step,
			Variant: m.Variant, Status: m.Status, CreatedAt: &created, DueAt: &due, LastError: m.LastError.String, id: m.ID}
		if m.SentAt.Valid {
			sent := m.SentAt.Time.UTC()
			e.At, e.SentAt = sent, &sent
		}
		tc.Entries = append(tc.Entries, e)
	}
	// At one instant a message comes before the events it caused.
	slices.SortFunc(tc.Entries, func(a, b timelineEntry) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		if a.Source != b.Source {
			return strings.Compare(b.Source, a.Source) // "message" before "event"
		}
		return cmp.Compare(a.id, b.id)
	})
	if limit > 0 && len(tc.Entries) > limit {
		tc.Entries = tc.Entries[len(tc.Entries)-limit:]
		tc.Truncated = true
	}
	return tc, nil
}

// planObjects returns the applied plan's objects of model (mine) and all its
// objects (declared), of every kind, for telling whose a message is: the
// outbox keys messages by contact key, not by model.
func planObjects(p *plan.Plan, model string) (mine, declared []store.ObjectRef) {
	add := func(kind, name, m string) {
		ref := store.ObjectRef{Kind: kind, Name: name}
		declared = append(declared, ref)
		if m == model {
			mine = append(mine, ref)
		}
	}
	for _, c := range p.Campaigns {
		m := ""
		if s, ok := p.Segment(c.Segment); ok {
			m = s.Model
		}
		add("campaign", c.Name, m)
	}
	for _, s := range p.Sequences {
		add("sequence", s.Name, s.Model)
	}
	for _, w := range p.Workflows {
		add("workflow", w.Name, w.Model)
	}
	for _, a := range p.Autoresponders {
		add("autoresponder", a.Name, a.Model)
	}
	return mine, declared
}

func writeTimelineText(w io.Writer, doc timelineDoc) error {
	var b bytes.Buffer
	for i, c := range doc.Contacts {
		if i > 0 {
			b.WriteByte('\n')
		}
		name := c.Model + ":" + c.Key
		if c.Email != "" {
			name += " <" + strings.TrimSpace(c.Email) + ">"
		}
		var events, messages int
		for _, e := range c.Entries {
			if e.Source == "event" {
				events++
			} else {
				messages++
			}
		}
		summary := plural(events, "event") + ", " + plural(messages, "message")
		if c.Truncated {
			summary = fmt.Sprintf("the latest %d entries (%s); older ones left out: raise --limit, or --limit 0 for all", len(c.Entries), summary)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, summary)
		if len(c.Entries) == 0 {
			continue
		}
		var rows bytes.Buffer
		tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tWHAT\tOBJECT\tSTEP\tDETAIL")
		for _, e := range c.Entries {
			fmt.Fprintf(tw, "  %s\t%s\n", e.At.Format(time.RFC3339), strings.Join(timelineCells(e), "\t"))
		}
		tw.Flush()
		writeTrimmed(&b, rows.String())
	}
	_, err := w.Write(b.Bytes())
	return err
}

// timelineCells are an entry's WHAT, OBJECT, STEP and DETAIL.
func timelineCells(e timelineEntry) []string {
	step := e.Step
	if e.Source == "event" {
		var detail []string
		if e.Topic != "" {
			detail = append(detail, "topic "+e.Topic)
		}
		if e.URL != "" {
			detail = append(detail, e.URL)
		}
		// Events carry the object's name, not its kind.
		return []string{e.Type, e.Object, step, strings.Join(detail, ", ")}
	}
	var detail []string
	if e.Variant != "" {
		detail = append(detail, "variant "+e.Variant)
	}
	switch {
	case e.Status == store.OutboxPending && strings.HasPrefix(e.LastError, "held: "):
		detail = append(detail, "waiting: "+heldText(strings.TrimPrefix(e.LastError, "held: "))+", due again "+e.DueAt.Format(time.RFC3339))
	case e.Status == store.OutboxPending:
		detail = append(detail, "queued, due "+e.DueAt.Format(time.RFC3339))
	case e.LastError != "" && e.Status != store.OutboxSent:
		detail = append(detail, e.LastError)
	}
	return []string{"message " + e.Status, e.Kind + " " + e.Object, step, strings.Join(detail, ", ")}
}
