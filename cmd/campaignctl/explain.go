package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/compiler/plan/celmodel"
	"github.com/campaignctl/campaignctl/runtime/abtest"
	"github.com/campaignctl/campaignctl/runtime/segment"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// explain answers "why did (or didn't) this contact get this?" for each
// campaign, sequence and workflow of the applied plan: whether the contact is
// in the object's segment now, conjunct by conjunct with the values the filter
// reads, whether its address is suppressed, and what the runner did: the
// outbox rows of a campaign; the enrollment, its history, its messages and the
// A/B split of a sequence; for a workflow (explain_workflow.go) its trigger,
// the event that enrolled the contact, each occurrence step by step, and the
// properties it wrote. It only reads.

// explainFormatVersion is the format_version of `explain --format json`.
// Fields may be added without a bump; a field removed or given another meaning
// bumps it.
const explainFormatVersion = 1

// explainDoc is what `campaignctl explain --format json` prints:
//
//	{
//	  "format_version": 1,
//	  "revision": {"id": 2, "plan_hash": "…", …},  // as in status; null when nothing is applied
//	  "evaluated_at": "RFC 3339, UTC",              // the "now" of segment membership
//	  "contacts": [{                                // one per contact CONTACT names
//	    "model": "lead", "key": "42",
//	    "email": "…",                               // as stored, "" when none
//	    "suppression": null | {"reason": "unsubscribed" | "blacklisted" | "hard_bounce" | "complaint" | "manual",
//	                           "campaign": "…" (omitted if none), "since": "RFC 3339"},
//	    "consent": [{           // the model's consent rules read for the contact; omitted when it declares none
//	      "subscription": "…" (omitted: the model's own rule), "rule": "lead.marketing_opt_in",
//	      "holds": bool, "error": "…" (omitted if none; an error counts as no consent)
//	    }],
//	    "in_nothing": bool,     // in no object's segment, no message, no enrollment
//	    "objects": [{           // campaigns, sequences, then workflows of the contact's model, by name
//	      "kind": "campaign" | "sequence" | "workflow", "name": "…",
//	      "segment": null | {   // null: the object names no segment (workflow: its trigger.segment)
//	        "name": "…", "filter": "…" (as written), "member": bool,
//	        "conjuncts": [{     // the filter's top-level && operands; omitted when not split
//	          "expr": "…", "value": bool,
//	          "default_filter": true,   // the model's default filter, implied by the segment
//	          "fields": [{"field": "lead.score", "value": JSON value or null}]
//	        }],
//	        "breakdown_error": "…"      // why there are no conjuncts, if it failed
//	      },
//	      "messages": [Message],        // campaign: its outbox rows for the contact
//	      "no_message": "…",            // campaign without a message: why
//	      "enrollments": [{             // sequence, workflow (one per occurrence)
//	        "contact_key": "…",         // differs from key: enrolled through another record of the address
//	        "occurrence": 1, "state": "active" | "exited",
//	        "enrolled_at": "RFC 3339", "exit_reason": "…" (omitted), "exited_at": "RFC 3339" (omitted),
//	        "next": {"index": 1, "step": "week1", "wake_at": "RFC 3339" (omitted),
//	                 "waiting_for_ab_decision": "week1" (omitted),
//	                 "in_wait": "wait_1d" (workflow: the step it waits in until wake_at: a wait, or a
//	                            branch waiting to test engagement, then equal to step; omitted)
//	                },                  // omitted once exited
//	        "history": [{"at": "RFC 3339", "step": "…",
//	                     "action": "sent" | "skipped" | "held" | "exited" |
//	                               "notified" | "set" | "cleared" | "assigned" | "branched" | "waited" (workflow),
//	                     "variant": "…", "detail": "…"}],   // in the order taken
//	        "messages": [Message],
//	        "trigger_event": {          // workflow: the event that enrolled the contact; omitted when
//	                                    // none was stored (a state trigger without re-enrollment)
//	          "type": "…", "at": "RFC 3339" (omitted if unknown),
//	          "topic", "campaign", "step", "url", "id": "…" (each omitted if ""),
//	          "properties": {…}         // what the client sent besides those fields
//	        }
//	      }],
//	      "not_enrolled": "…",          // sequence or workflow without an enrollment: why
//	      "ab_tests": [{                // sequence steps with an A/B test, in step order
//	        "step": "…", "in_test": bool, "variant": "…" (the test variant; "" in the remainder or not enrolled),
//	        "placement": "…",           // what this contact gets, in words
//	        "decision": null | {as in status: winner, decision, significant, p_value, metric, reason, decided_at}
//	      }],                           // (workflow: its send steps with an A/B test)
//	      "trigger": {                  // workflow only, as written
//	        "event": "form_submit", "state": bool,  // state: a state of the contact entered, not a stored event
//	        "topic", "filter", "segment", "field", "window", "inactive_for": "…" (each omitted if ""),
//	        "threshold": n (omitted if 0),
//	        "reenroll": "not allowed" | "allowed" | "allowed after 30d"
//	      },
//	      "properties": [{              // workflow: the contact's properties whose current value it wrote
//	        "field": "customer.owner", "value": "…" | null (cleared), "set_at": "RFC 3339",
//	        "step": "…", "occurrence": n (of the enrollment that wrote it; omitted if not known)
//	      }]
//	    }]
//	  }]
//	}
//
// Message is {"contact_key", "step", "variant", "occurrence", "status": "pending" |
// "sent" | "failed" | "cancelled", "created_at", "due_at", "sent_at" (omitted),
// "attempts", "message_id", "last_smtp", "last_error" (each omitted when empty),
// "held": {"reason": "…", "until": "RFC 3339", or null while it waits for its
// paused object to be unpaused} (a pending message held by send-time
// policy, omitted otherwise), "to": "…" (a workflow's owner notification: the
// owner's address; omitted otherwise)}.
type explainDoc struct {
	FormatVersion int              `json:"format_version"`
	Revision      *statusRevision  `json:"revision"`
	EvaluatedAt   time.Time        `json:"evaluated_at"`
	Contacts      []explainContact `json:"contacts"`
}

type explainContact struct {
	Model       string              `json:"model"`
	Key         string              `json:"key"`
	Email       string              `json:"email"`
	Suppression *explainSuppression `json:"suppression"`
	// Consent lists the model's consent rules read for the contact (omitted
	// when the model declares none); explain_consent.go.
	Consent []explainConsent `json:"consent,omitempty"`
	// Ledger is the address's latest consent ledger entry per subscription
	// type ("" = all marketing mail), which decides over the rules when
	// present (omitted when there is none); explain_consent.go.
	Ledger    []explainLedger `json:"ledger,omitempty"`
	InNothing bool            `json:"in_nothing"`
	Objects   []explainObject `json:"objects"`
}

type explainSuppression struct {
	Reason   string    `json:"reason"`
	Campaign string    `json:"campaign,omitempty"`
	Since    time.Time `json:"since"`
}

type explainObject struct {
	Kind        string              `json:"kind"`
	Name        string              `json:"name"`
	Segment     *explainSegment     `json:"segment"`
	Messages    []explainMessage    `json:"messages,omitempty"`
	NoMessage   string              `json:"no_message,omitempty"`
	Enrollments []explainEnrollment `json:"enrollments,omitempty"`
	NotEnrolled string              `json:"not_enrolled,omitempty"`
	ABTests     []explainABTest     `json:"ab_tests,omitempty"`
	// Workflows only (explain_workflow.go).
	Trigger    *explainTrigger   `json:"trigger,omitempty"`
	Properties []explainProperty `json:"properties,omitempty"`
}

type explainSegment struct {
	Name           string            `json:"name"`
	Filter         string            `json:"filter"`
	Member         bool              `json:"member"`
	Conjuncts      []explainConjunct `json:"conjuncts,omitempty"`
	BreakdownError string            `json:"breakdown_error,omitempty"`
}

type explainConjunct struct {
	Expr          string         `json:"expr"`
	Value         bool           `json:"value"`
	DefaultFilter bool           `json:"default_filter,omitempty"`
	Fields        []explainField `json:"fields"`
}

type explainField struct {
	Field string `json:"field"`
	Value any    `json:"value"`
}

type explainMessage struct {
	ContactKey string       `json:"contact_key"`
	Step       string       `json:"step"`
	Variant    string       `json:"variant"`
	Occurrence int          `json:"occurrence"`
	Status     string       `json:"status"`
	CreatedAt  time.Time    `json:"created_at"`
	DueAt      time.Time    `json:"due_at"`
	SentAt     *time.Time   `json:"sent_at,omitempty"`
	Attempts   int          `json:"attempts"`
	MessageID  string       `json:"message_id,omitempty"`
	LastSMTP   string       `json:"last_smtp,omitempty"`
	LastError  string       `json:"last_error,omitempty"`
	Held       *explainHeld `json:"held,omitempty"`
	// To is the owner a workflow's notify_owner step told about the contact.
	To string `json:"to,omitempty"`
}

type explainHeld struct {
	Reason string `json:"reason"`
	// Until is when the message is due again; nil while it waits for its
	// object to be unpaused (no time is set for that).
	Until *time.Time `json:"until"`
}

type explainEnrollment struct {
	ContactKey string           `json:"contact_key"`
	Occurrence int              `json:"occurrence"`
	State      string           `json:"state"`
	EnrolledAt time.Time        `json:"enrolled_at"`
	ExitReason string           `json:"exit_reason,omitempty"`
	ExitedAt   *time.Time       `json:"exited_at,omitempty"`
	Next       *explainNext     `json:"next,omitempty"`
	History    []explainStep    `json:"history"`
	Messages   []explainMessage `json:"messages"`
	// TriggerEvent is the event that enrolled the contact in a workflow.
	TriggerEvent *explainTriggerEvent `json:"trigger_event,omitempty"`
}

type explainNext struct {
	Index                int        `json:"index"`
	Step                 string     `json:"step"`
	WakeAt               *time.Time `json:"wake_at,omitempty"`
	WaitingForABDecision string     `json:"waiting_for_ab_decision,omitempty"`
	// InWait is the workflow step the enrollment waits in (a wait, or a
	// branch waiting to test engagement); WakeAt is when the wait ends.
	InWait string `json:"in_wait,omitempty"`
}

type explainStep struct {
	At      time.Time `json:"at"`
	Step    string    `json:"step"`
	Action  string    `json:"action"`
	Variant string    `json:"variant"`
	Detail  string    `json:"detail"`
}

type explainABTest struct {
	Step      string            `json:"step"`
	InTest    bool              `json:"in_test"`
	Variant   string            `json:"variant"`
	Placement string            `json:"placement"`
	Decision  *abDecisionStatus `json:"decision"`
}

func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("explain", "explain --db URL [--format text|json] CONTACT [OBJECT]", `
Say why a contact did or did not get a campaign, a sequence or a workflow of
the latest applied plan. For each campaign, sequence and workflow of the
contact's model (or only OBJECT), it prints:

  - whether the contact is in the object's segment now, and, split at the
    filter's top-level &&, each part true or false with the contact's values
    of the fields it reads;
  - whether the contact's address is suppressed, why and since when;
  - campaign: its message to the contact (status, due, sent, attempts,
    message-id, SMTP reply, last error), or why there is none; a message held
    by quiet hours or a frequency cap says until when;
  - sequence: the enrollment (state, next step and when, or the A/B decision
    it waits for), every step it took, its messages, and for each A/B-tested
    step which side of the split the contact is on and the decision;
  - workflow: its trigger as written, then per enrollment (each re-enrollment
    is an occurrence) the event that enrolled the contact, every step taken
    (waits, branches and where they went, sends, owner notifications,
    property writes), its messages, where it stands and what is next, the
    exit reason; the properties the workflow wrote for the contact; for a
    contact never enrolled, why when stored facts tell (no trigger event since
    the workflow was applied, not read yet, no address, not in the trigger's
    segment; a state trigger is named, not evaluated).

CONTACT is MODEL:KEY (lead:42) or an email address, which explains every
contact of every model with that address (compared trimmed and lower case).
OBJECT is a name, or kind/name (campaign/winback, sequence/nurture,
workflow/review_request) when objects of two kinds share it.

Exit status: 0 ok (also when nothing is applied yet), 1 error (an unknown
model, key, address or object), 2 usage.`, `  campaignctl explain --db "$CAMPAIGNCTL_DB" lead:42
  campaignctl explain --db "$CAMPAIGNCTL_DB" ann@example.com sequence/restock_nurture
  campaignctl explain --db "$CAMPAIGNCTL_DB" lead:42 --format json | jq '.contacts[].objects[] | {name, member: .segment.member}'`, stderr)
	db := dbFlag(fs)
	format := textOrJSONFlag(fs)
	pos, code := parseInterleaved(fs, args)
	if code >= 0 {
		return code
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintf(stderr, "campaignctl explain: want CONTACT and at most one OBJECT, got %d arguments\n", len(pos))
		fs.Usage()
		return 2
	}
	if !checkTextOrJSON(fs, *format, stderr) || !needDB(*db, stderr) {
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintln(stderr, "campaignctl explain:", err)
		return 1
	}
	ctx := context.Background()
	st, err := store.Open(ctx, *db)
	if err != nil {
		return fail(err)
	}
	defer st.Close()

	rev, p, err := appliedPlan(ctx, st)
	if errors.Is(err, store.ErrNoRevision) {
		if *format == "json" {
			fmt.Fprintln(stderr, "campaignctl explain:", nothingApplied)
			return boolExit(writeJSON(stdout, explainDoc{FormatVersion: explainFormatVersion, EvaluatedAt: time.Now().UTC(), Contacts: []explainContact{}}) == nil)
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
	var only *store.ObjectRef
	if len(pos) == 2 {
		ref, err := resolveObject(p, pos[1])
		if err != nil {
			return fail(err)
		}
		only = &ref
	}
	doc, err := explainContacts(ctx, st, rev, p, contacts, only, time.Now())
	if err != nil {
		return fail(err)
	}
	if *format == "json" {
		return boolExit(writeJSON(stdout, doc) == nil)
	}
	return boolExit(writeExplainText(stdout, doc, p, only) == nil)
}

// explainContacts explains each of contacts (already resolved against p, the
// plan of rev) for every object of its model, or only one, with segment
// membership evaluated at now. explain and the status page's contact lookup
// both print what it returns.
func explainContacts(ctx context.Context, st *store.Store, rev store.Revision, p *plan.Plan, contacts []contactRecord, only *store.ObjectRef, now time.Time) (explainDoc, error) {
	x, err := newExplainer(st, p, now)
	if err != nil {
		return explainDoc{}, err
	}
	doc := explainDoc{FormatVersion: explainFormatVersion, EvaluatedAt: x.now, Contacts: []explainContact{},
		Revision: &statusRevision{ID: rev.ID, PlanHash: rev.PlanHash, SourceCommit: rev.SourceCommit,
			AppliedAt: rev.AppliedAt.UTC(), AppliedBy: rev.AppliedBy}}
	for _, c := range contacts {
		ec, err := x.explainContact(ctx, c, only)
		if err != nil {
			return doc, err
		}
		doc.Contacts = append(doc.Contacts, ec)
	}
	return doc, nil
}

// appliedPlan reads and decodes the latest revision; store.ErrNoRevision when
// nothing was applied, including on a database never migrated.
func appliedPlan(ctx context.Context, st *store.Store) (store.Revision, *plan.Plan, error) {
	rev, err := st.LatestRevision(ctx)
	if undefinedTable(err) {
		return rev, nil, store.ErrNoRevision
	}
	if err != nil {
		return rev, nil, err
	}
	p, err := plan.Decode([]byte(rev.Plan))
	if err != nil {
		return rev, nil, fmt.Errorf("revision %d: %w", rev.ID, err)
	}
	return rev, p, nil
}

// contactRecord is one contact's row of its model's table.
type contactRecord struct {
	model *plan.Model
	key   string
	email string // as stored, "" when NULL
	// values holds each field's value by field name: nil for NULL, string,
	// int64, float64, bool, time.Time or []string.
	values map[string]any
}

func (c contactRecord) String() string { return c.model.Name + ":" + c.key }

// normalizedEmail is the address the way the runner's tables key it.
func (c contactRecord) normalizedEmail() string { return strings.ToLower(strings.TrimSpace(c.email)) }

// resolveContacts reads the contacts CONTACT names: MODEL:KEY, or an email
// address for every contact of every model with that address. A prefix that
// names a model wins over the address reading, so customer:ann@example.com is
// the customer keyed by that address.
func resolveContacts(ctx context.Context, db *sqlx.DB, p *plan.Plan, arg string) ([]contactRecord, error) {
	arg = strings.TrimSpace(arg)
	written := p.FieldsWorkflowsWrite()
	prefix, key, hasColon := strings.Cut(arg, ":")
	if m, ok := p.Model(prefix); ok && hasColon {
		if key == "" {
			return nil, fmt.Errorf("contact %q: the key is missing: write %s:KEY, e.g. %s:42", arg, m.Name, m.Name)
		}
		rows, err := readContacts(ctx, db, m, written[m.Name], false, key)
		if err != nil {
			return nil, err
		}
		if len(rows) == 0 {
			return nil, fmt.Errorf("contact %s: no row of %s has %s = %q: check the key, or give the contact's email address instead", arg, m.Table, m.Key, key)
		}
		return rows[:1], nil
	}
	local, domain, isEmail := strings.Cut(arg, "@")
	switch {
	case isEmail && local != "" && domain != "" && !strings.ContainsAny(arg, " \t"):
	case hasColon && prefix != "":
		return nil, fmt.Errorf("contact %q: unknown model %q; the applied plan's models are %s (write MODEL:KEY, e.g. %s)",
			arg, prefix, strings.Join(modelNames(p), ", "), exampleContact(p))
	default:
		return nil, fmt.Errorf("contact %q is neither MODEL:KEY (e.g. %s) nor an email address", arg, exampleContact(p))
	}
	var out []contactRecord
	for i := range p.Models {
		rows, err := readContacts(ctx, db, &p.Models[i], written[p.Models[i].Name], true, arg)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	if len(out) == 0 {
		var where []string
		for _, m := range p.Models {
			where = append(where, m.Table+"."+m.Email)
		}
		return nil, fmt.Errorf("no contact has the address %q (looked in %s): check the address, or give MODEL:KEY", arg, strings.Join(where, ", "))
	}
	return out, nil
}

func modelNames(p *plan.Plan) []string {
	var out []string
	for _, m := range p.Models {
		out = append(out, m.Name)
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

func exampleContact(p *plan.Plan) string {
	if len(p.Models) > 0 {
		return p.Models[0].Name + ":42"
	}
	return "lead:42"
}

// readContacts reads the rows of m's table whose key equals arg, or, with
// byEmail, whose address equals arg trimmed and lower cased, in key order.
// The key is compared in the key column's own type (its index serves it); an
// address has no index to use unless the CRM made one on lower(btrim(email)),
// which explain, run by hand, can live without. The segment package owns
// reading the CRM for segments; this reads one contact's row to show the
// values its filter saw: the fields in written (those the plan's workflows
// write) through the same expressions segments read them with, so what
// workflows wrote shows, converted as segments convert it.
func readContacts(ctx context.Context, db *sqlx.DB, m *plan.Model, written map[string]bool, byEmail bool, arg string) ([]contactRecord, error) {
	table, err := sqlgen.QuoteTable(m.Table)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	overlaid, joins, err := sqlgen.OverlayColumns(m, written)
	if err != nil {
		return nil, err
	}
	key, email := pq.QuoteIdentifier(m.Key), pq.QuoteIdentifier(m.Email)
	cols := []string{key + "::text", "coalesce(" + email + "::text, '')"}
	for _, f := range m.Fields {
		col := pq.QuoteIdentifier(sqlgen.ColumnName(f))
		if x, ok := overlaid[f.Name]; ok {
			col = x
		}
		if f.Type == plan.TypeStringList {
			col += "::text[]"
		}
		cols = append(cols, col)
	}
	where := key + " = $1"
	if byEmail {
		where = "lower(btrim(" + email + "::text)) = lower(btrim($1))"
	}
	rows, err := db.QueryContext(ctx, "SELECT "+strings.Join(cols, ", ")+" FROM "+table+joins+" WHERE "+where+" ORDER BY "+key, arg)
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) {
			switch {
			case pqErr.Code == "42P01" && joins != "" && strings.Contains(pqErr.Message, "contact_properties"):
				return nil, fmt.Errorf("model %s: workflows write some of its fields, kept in the runner's contact_properties table, which this database lacks: run campaignctl migrate --db URL (%s)", m.Name, pqErr.Message)
			case pqErr.Code == "42P01":
				return nil, fmt.Errorf("model %s reads table %s, which does not exist in this database: check --db", m.Name, m.Table)
			case pqErr.Code == "42703":
				return nil, fmt.Errorf("model %s: %s: the plan and table %s disagree; re-run campaignctl plan against this CRM", m.Name, pqErr.Message, m.Table)
			case pqErr.Code.Class() == "22" && !byEmail:
				return nil, fmt.Errorf("contact %s:%s: %q is not a valid value of %s.%s (%s): check the key", m.Name, arg, arg, m.Table, m.Key, pqErr.Message)
			}
		}
		return nil, fmt.Errorf("model %s: reading contacts from %s: %w", m.Name, m.Table, err)
	}
	defer rows.Close()
	var out []contactRecord
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("model %s: reading contacts from %s: %w", m.Name, m.Table, err)
		}
		c := contactRecord{model: m, key: asText(vals[0]), email: asText(vals[1]), values: map[string]any{}}
		for i, f := range m.Fields {
			v, err := fieldValue(f, vals[2+i])
			if err != nil {
				return nil, fmt.Errorf("model %s: field %s of %s:%s: %w", m.Name, f.Name, m.Name, c.key, err)
			}
			c.values[f.Name] = v
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("model %s: reading contacts from %s: %w", m.Name, m.Table, err)
	}
	return out, nil
}

func asText(v any) string {
	switch t := v.(type) {
	case []byte:
		return string(t)
	case string:
		return t
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// fieldValue turns a scanned column into the field's Go value, so text and
// JSON show a list as a list and a string quoted.
func fieldValue(f plan.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch f.Type {
	case plan.TypeStringList:
		var a pq.StringArray
		if err := a.Scan(v); err != nil {
			return nil, err
		}
		return []string(a), nil
	case plan.TypeString:
		return asText(v), nil
	case plan.TypeFloat:
		if x, ok := v.(float64); ok && (math.IsNaN(x) || math.IsInf(x, 0)) {
			return strconv.FormatFloat(x, 'g', -1, 64), nil // JSON has no NaN
		}
	case plan.TypeTimestamp:
		if t, ok := v.(time.Time); ok {
			return t.UTC(), nil
		}
	}
	if b, ok := v.([]byte); ok {
		return string(b), nil
	}
	return v, nil
}

// formatFieldValue writes a value the way a CEL literal reads.
func formatFieldValue(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(t)
	case time.Time:
		return t.UTC().Format(time.RFC3339Nano)
	case []string:
		q := make([]string, len(t))
		for i, s := range t {
			q[i] = strconv.Quote(s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// objectKinds are the kinds explain covers.
var objectKinds = []string{"campaign", "sequence", "workflow"}

// resolveObject reads OBJECT: kind/name, or a name only one campaign,
// sequence or workflow has.
func resolveObject(p *plan.Plan, arg string) (store.ObjectRef, error) {
	var known []string
	for _, c := range p.Campaigns {
		known = append(known, "campaign/"+c.Name)
	}
	for _, s := range p.Sequences {
		known = append(known, "sequence/"+s.Name)
	}
	for _, w := range p.Workflows {
		known = append(known, "workflow/"+w.Name)
	}
	list := strings.Join(known, ", ")
	if list == "" {
		list = "none"
	}
	kind, name, qualified := strings.Cut(arg, "/")
	if !qualified {
		kind, name = "", arg
	}
	var found []store.ObjectRef
	if _, ok := p.Campaign(name); ok && (kind == "" || kind == "campaign") {
		found = append(found, store.ObjectRef{Kind: "campaign", Name: name})
	}
	if _, ok := p.Sequence(name); ok && (kind == "" || kind == "sequence") {
		found = append(found, store.ObjectRef{Kind: "sequence", Name: name})
	}
	if _, ok := planWorkflow(p, name); ok && (kind == "" || kind == "workflow") {
		found = append(found, store.ObjectRef{Kind: "workflow", Name: name})
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var kinds, qualified []string
		for _, f := range found {
			kinds = append(kinds, "a "+f.Kind)
			qualified = append(qualified, f.Kind+"/"+name)
		}
		both := "both "
		if len(found) > 2 {
			both = ""
		}
		last := len(found) - 1
		return store.ObjectRef{}, fmt.Errorf("object %q: %s%s and %s have that name: write %s or %s", arg, both,
			strings.Join(kinds[:last], ", "), kinds[last], strings.Join(qualified[:last], ", "), qualified[last])
	}
	for _, a := range p.Autoresponders {
		if a.Name == name && (kind == "" || kind == "autoresponder") {
			return store.ObjectRef{}, fmt.Errorf("object %q is an autoresponder, which explain does not cover yet: explain covers campaigns, sequences and workflows (%s)", arg, list)
		}
	}
	if qualified && !slices.Contains(objectKinds, kind) && kind != "autoresponder" {
		return store.ObjectRef{}, fmt.Errorf("object %q: unknown kind %q: write campaign/NAME, sequence/NAME or workflow/NAME; known: %s", arg, kind, list)
	}
	return store.ObjectRef{}, fmt.Errorf("object %q is not in the applied plan; known: %s", arg, list)
}

// explainer holds what every contact's explanation shares: the evaluator over
// the plan plus one hidden segment per conjunct, and the campaigns' states.
type explainer struct {
	st   *store.Store
	plan *plan.Plan
	ev   *segment.Evaluator
	now  time.Time
	// parts holds each segment's conjuncts; breakdownErr why a segment has none.
	parts         map[string][]conjunct
	breakdownErr  map[string]string
	campaigns     map[string]store.Campaign
	campaignsRead bool
	// member caches MatchKeys per segment (hidden ones too) and contact key:
	// two objects on one segment ask the same question.
	member map[[2]string]bool
}

// conjunct is one top-level && operand of a segment's filter, evaluated as a
// hidden segment of its own.
type conjunct struct {
	expr          string
	hidden        string   // the hidden segment's name
	fields        []string // the model fields it reads, in order of appearance
	defaultFilter bool
}

// hiddenPrefix names the one-off segments that evaluate conjuncts; plan names
// start with a lowercase letter, so they cannot collide.
const hiddenPrefix = "__explain__"

func newExplainer(st *store.Store, p *plan.Plan, now time.Time) (*explainer, error) {
	x := &explainer{st: st, plan: p, now: now.UTC().Truncate(time.Microsecond),
		parts: map[string][]conjunct{}, breakdownErr: map[string]string{},
		campaigns: map[string]store.Campaign{}, member: map[[2]string]bool{}}
	byModel := map[string][]string{}
	for _, s := range p.Segments {
		byModel[s.Model] = append(byModel[s.Model], s.Name)
	}
	withHidden := *p
	withHidden.Segments = slices.Clone(p.Segments)
	for _, s := range p.Segments {
		m, ok := p.Model(s.Model)
		if !ok {
			continue // segment.New says so below
		}
		parts, err := splitConjuncts(m, byModel[m.Name], s.Filter)
		if err != nil {
			x.breakdownErr[s.Name] = err.Error()
			continue
		}
		// Each conjunct is evaluated without the model's default filter, and
		// the default filter as a line of its own: evaluated with it, every
		// conjunct of an archived contact would read false, its values saying
		// otherwise. Membership is the && of every line either way.
		if d := strings.TrimSpace(m.DefaultFilter); d != "" && !s.IncludeArchived {
			parts = append(parts, conjunct{expr: d, fields: filterFields(m, byModel[m.Name], d), defaultFilter: true})
		}
		for i := range parts {
			parts[i].hidden = hiddenPrefix + strconv.Itoa(len(withHidden.Segments))
			withHidden.Segments = append(withHidden.Segments, plan.Segment{Name: parts[i].hidden, Model: m.Name,
				Filter: parts[i].expr, IncludeArchived: true})
		}
		x.parts[s.Name] = parts
	}
	ev, err := segment.New(&withHidden)
	if err != nil {
		// A conjunct that does not compile on its own must not cost the
		// answer to "is the contact in the segment": explain without the
		// breakdown, saying why.
		if ev, err = segment.New(p); err != nil {
			return nil, fmt.Errorf("applied plan: %w", err)
		}
		for name := range x.parts {
			x.breakdownErr[name] = "the filter's parts do not evaluate on their own: " + err.Error()
		}
		x.parts = map[string][]conjunct{}
	}
	x.ev = ev
	return x, nil
}

// splitConjuncts splits filter at its top-level && into the operands, each
// printed back as CEL (cel.ExprToString, which cel.AstToString applies to a
// whole AST, keeps macros as written). Nested && (inside ||, !, a macro) is
// left whole: only the top level is a conjunction of the whole filter.
func splitConjuncts(m *plan.Model, segments []string, filter string) ([]conjunct, error) {
	if strings.TrimSpace(filter) == "" {
		return nil, nil
	}
	env, err := celmodel.Env(m, segments)
	if err != nil {
		return nil, err
	}
	ast, iss := env.Parse(filter)
	if iss.Err() != nil {
		return nil, fmt.Errorf("parsing the filter: %w", iss.Err())
	}
	native := ast.NativeRep()
	var exprs []celast.Expr
	var walk func(e celast.Expr)
	walk = func(e celast.Expr) {
		if e.Kind() == celast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd && !e.AsCall().IsMemberFunction() {
			for _, a := range e.AsCall().Args() {
				walk(a)
			}
			return
		}
		exprs = append(exprs, e)
	}
	walk(native.Expr())
	out := make([]conjunct, len(exprs))
	for i, e := range exprs {
		s, err := cel.ExprToString(e, native.SourceInfo())
		if err != nil {
			return nil, fmt.Errorf("printing part %d of the filter: %w", i+1, err)
		}
		out[i] = conjunct{expr: s, fields: exprFields(m, e)}
	}
	return out, nil
}

// filterFields lists the fields a whole filter reads ("" when it does not
// parse: the evaluator will say why).
func filterFields(m *plan.Model, segments []string, filter string) []string {
	env, err := celmodel.Env(m, segments)
	if err != nil {
		return nil
	}
	ast, iss := env.Parse(filter)
	if iss.Err() != nil {
		return nil
	}
	return exprFields(m, ast.NativeRep().Expr())
}

// exprFields lists the model fields e reads (lead.score, has(lead.score)),
// in order of appearance, once each.
func exprFields(m *plan.Model, e celast.Expr) []string {
	var out []string
	var visit func(e celast.Expr)
	visit = func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			sel := e.AsSelect()
			if op := sel.Operand(); op.Kind() == celast.IdentKind && op.AsIdent() == m.Name {
				if _, ok := m.Field(sel.FieldName()); ok && !slices.Contains(out, sel.FieldName()) {
					out = append(out, sel.FieldName())
				}
				return
			}
			visit(sel.Operand())
		case celast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				visit(c.Target())
			}
			for _, a := range c.Args() {
				visit(a)
			}
		case celast.ListKind:
			for _, el := range e.AsList().Elements() {
				visit(el)
			}
		case celast.MapKind:
			for _, en := range e.AsMap().Entries() {
				me := en.AsMapEntry()
				visit(me.Key())
				visit(me.Value())
			}
		case celast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				visit(f.AsStructField().Value())
			}
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			visit(c.IterRange())
			visit(c.AccuInit())
			visit(c.LoopCondition())
			visit(c.LoopStep())
			visit(c.Result())
		}
	}
	visit(e)
	return out
}

// inSegment says whether the contact key is in segment now, asking once.
func (x *explainer) inSegment(ctx context.Context, segName, key string) (bool, error) {
	k := [2]string{segName, key}
	if v, ok := x.member[k]; ok {
		return v, nil
	}
	got, err := x.ev.MatchKeys(ctx, x.st.DB, segName, x.now, []string{key})
	if err != nil {
		return false, err
	}
	x.member[k] = got[key]
	return got[key], nil
}

// objectsOf lists the campaigns, sequences and workflows explained for a
// contact of model: those of its model, or only only.
func (x *explainer) objectsOf(model string, only *store.ObjectRef) []store.ObjectRef {
	var out []store.ObjectRef
	for _, c := range x.plan.Campaigns {
		if s, ok := x.plan.Segment(c.Segment); ok && s.Model == model && (only == nil || *only == store.ObjectRef{Kind: "campaign", Name: c.Name}) {
			out = append(out, store.ObjectRef{Kind: "campaign", Name: c.Name})
		}
	}
	for _, s := range x.plan.Sequences {
		if s.Model == model && (only == nil || *only == store.ObjectRef{Kind: "sequence", Name: s.Name}) {
			out = append(out, store.ObjectRef{Kind: "sequence", Name: s.Name})
		}
	}
	for _, w := range x.plan.Workflows {
		if w.Model == model && (only == nil || *only == store.ObjectRef{Kind: "workflow", Name: w.Name}) {
			out = append(out, store.ObjectRef{Kind: "workflow", Name: w.Name})
		}
	}
	return out
}

func (x *explainer) explainContact(ctx context.Context, c contactRecord, only *store.ObjectRef) (explainContact, error) {
	ec := explainContact{Model: c.model.Name, Key: c.key, Email: c.email, Objects: []explainObject{}}
	if addr := c.normalizedEmail(); addr != "" {
		sup, ok, err := x.st.AddressSuppression(ctx, addr)
		if err != nil {
			return ec, needsMigrate(err)
		}
		if ok {
			ec.Suppression = &explainSuppression{Reason: sup.Reason, Campaign: sup.Campaign, Since: sup.CreatedAt.UTC()}
		}
	}
	ec.Consent = consentOf(c, x.now)
	if addr := c.normalizedEmail(); addr != "" && len(ec.Consent)+len(c.model.Subscriptions) > 0 {
		_, latest, err := x.st.Preferences(ctx, addr)
		if err != nil {
			return ec, needsMigrate(err)
		}
		ec.Ledger = ledgerOf(latest)
	}
	if !x.campaignsRead {
		cs, err := x.st.Campaigns(ctx)
		if err != nil {
			return ec, needsMigrate(err)
		}
		for _, row := range cs {
			x.campaigns[row.Name] = row
		}
		x.campaignsRead = true
	}
	ec.InNothing = true
	for _, ref := range x.objectsOf(c.model.Name, only) {
		o, err := x.explainObject(ctx, c, ref, ec.Suppression != nil)
		if err != nil {
			return ec, err
		}
		if (o.Segment != nil && o.Segment.Member) || len(o.Messages) > 0 || len(o.Enrollments) > 0 {
			ec.InNothing = false
		}
		ec.Objects = append(ec.Objects, o)
	}
	return ec, nil
}

func (x *explainer) explainObject(ctx context.Context, c contactRecord, ref store.ObjectRef, suppressed bool) (explainObject, error) {
	o := explainObject{Kind: ref.Kind, Name: ref.Name}
	if ref.Kind == "workflow" {
		w, _ := planWorkflow(x.plan, ref.Name)
		return o, x.explainWorkflow(ctx, c, w, &o)
	}
	segName := ""
	var seq *plan.Sequence
	if ref.Kind == "campaign" {
		camp, _ := x.plan.Campaign(ref.Name)
		segName = camp.Segment
	} else {
		seq, _ = x.plan.Sequence(ref.Name)
		segName = seq.Segment
	}
	if segName != "" {
		seg, err := x.explainSegment(ctx, c, segName)
		if err != nil {
			return o, fmt.Errorf("%s %s: %w", ref.Kind, ref.Name, err)
		}
		o.Segment = seg
	}
	member := o.Segment != nil && o.Segment.Member
	addr := c.normalizedEmail()
	if ref.Kind == "campaign" {
		msgs, err := x.st.ObjectContactMessages(ctx, "campaign", ref.Name, []string{""}, c.key, addr)
		if err != nil {
			return o, needsMigrate(err)
		}
		for _, m := range msgs {
			o.Messages = append(o.Messages, explainMessageOf(m))
		}
		if len(o.Messages) == 0 {
			o.NoMessage = x.whyNoMessage(c, ref.Name, segName, member, suppressed)
		}
		return o, nil
	}
	return o, x.explainSequence(ctx, c, seq, &o, member)
}

func (x *explainer) explainSegment(ctx context.Context, c contactRecord, segName string) (*explainSegment, error) {
	seg, _ := x.plan.Segment(segName)
	es := &explainSegment{Name: segName, Filter: seg.Filter, BreakdownError: x.breakdownErr[segName]}
	var err error
	if es.Member, err = x.inSegment(ctx, segName, c.key); err != nil {
		return nil, err
	}
	for _, part := range x.parts[segName] {
		v, err := x.inSegment(ctx, part.hidden, c.key)
		if err != nil {
			return nil, err
		}
		ec := explainConjunct{Expr: part.expr, Value: v, DefaultFilter: part.defaultFilter, Fields: []explainField{}}
		for _, f := range part.fields {
			ec.Fields = append(ec.Fields, explainField{Field: c.model.Name + "." + f, Value: c.values[f]})
		}
		es.Conjuncts = append(es.Conjuncts, ec)
	}
	return es, nil
}

// whyNoMessage says why a campaign has no message for the contact, most
// decisive reason first.
func (x *explainer) whyNoMessage(c contactRecord, name, segName string, member, suppressed bool) string {
	row, known := x.campaigns[name]
	switch {
	case !known:
		return "the daemon has not picked up the campaign yet: is campaignctl serve running?"
	case row.Status == store.StatusRemoved:
		return "an earlier revision removed the campaign, and the daemon has not picked up this one yet"
	case row.Status == store.StatusScheduled && !member:
		return "not in segment " + segName + " now; the campaign is not sent yet (" + scheduledFor(row) + ")"
	case row.Status == store.StatusScheduled:
		return "not sent yet: " + scheduledFor(row) + "; " + c.String() + " is in its segment now"
	case c.normalizedEmail() == "":
		return c.String() + " has no address"
	case suppressed:
		return "the address is suppressed: a campaign does not enqueue suppressed addresses"
	case !member:
		return "not in segment " + segName
	}
	when := ""
	if row.MaterializedAt.Valid {
		when = " at " + row.MaterializedAt.Time.UTC().Format(time.RFC3339)
	}
	return c.String() + " is in segment " + segName + " now but was not when the campaign took its audience" + when +
		": a campaign goes once, to the members of that moment"
}

func scheduledFor(row store.Campaign) string {
	if row.SendAt.Valid {
		return "scheduled for " + row.SendAt.Time.UTC().Format(time.RFC3339)
	}
	return "scheduled"
}

func explainMessageOf(m store.Message) explainMessage {
	em := explainMessage{ContactKey: m.ContactKey, Step: m.Step, Variant: m.Variant, Occurrence: m.Occurrence,
		Status: m.Status, CreatedAt: m.CreatedAt.UTC(), DueAt: m.DueAt.UTC(), Attempts: m.Attempts,
		MessageID: m.MessageID.String, LastSMTP: m.LastSMTP.String, LastError: m.LastError.String}
	if m.SentAt.Valid {
		t := m.SentAt.Time.UTC()
		em.SentAt = &t
	}
	if reason, ok := strings.CutPrefix(em.LastError, "held: "); ok && em.Status == store.OutboxPending {
		em.Held = &explainHeld{Reason: reason}
		if !m.DueAt.Equal(store.HeldWhilePaused) {
			until := em.DueAt
			em.Held.Until = &until
		}
	}
	return em
}

func (x *explainer) explainSequence(ctx context.Context, c contactRecord, seq *plan.Sequence, o *explainObject, member bool) error {
	addr := c.normalizedEmail()
	ens, err := x.st.ObjectContactEnrollments(ctx, "sequence", seq.Name, c.key, addr)
	if err != nil {
		return needsMigrate(err)
	}
	ids := make([]int64, len(ens))
	for i, e := range ens {
		ids[i] = e.ID
	}
	hist, err := x.st.EnrollmentHistory(ctx, ids)
	if err != nil {
		return needsMigrate(err)
	}
	order := map[string]int{}
	steps := []string{}
	for i, s := range seq.Steps {
		order[s.Name] = i
		steps = append(steps, s.Name)
	}
	for _, h := range hist {
		if !slices.Contains(steps, h.Step) {
			steps = append(steps, h.Step) // a step a later revision renamed or dropped
		}
	}
	msgs, err := x.st.ObjectContactMessages(ctx, "sequence", seq.Name, steps, c.key, addr)
	if err != nil {
		return needsMigrate(err)
	}
	rank := func(step string) int {
		if i, ok := order[step]; ok {
			return i
		}
		return len(seq.Steps) // the step an enrollment completes at ("") comes last
	}
	// The split is by the enrolled record's key: another record of the same
	// address, when that is the one enrolled.
	splitKey := c.key
	if len(ens) > 0 && !slices.ContainsFunc(ens, func(e store.EnrollmentRecord) bool { return e.ContactKey == c.key }) {
		splitKey = ens[0].ContactKey
	}
	for _, e := range ens {
		ee := explainEnrollment{ContactKey: e.ContactKey, Occurrence: e.Occurrence, State: e.State,
			EnrolledAt: e.EnrolledAt.UTC(), ExitReason: e.ExitReason.String, History: []explainStep{}, Messages: []explainMessage{}}
		if e.ExitedAt.Valid {
			t := e.ExitedAt.Time.UTC()
			ee.ExitedAt = &t
		}
		if e.State == "active" {
			n := &explainNext{Index: e.StepIndex, WaitingForABDecision: e.Hold.String}
			if e.StepIndex < len(seq.Steps) {
				n.Step = seq.Steps[e.StepIndex].Name
			}
			if e.WakeAt.Valid {
				t := e.WakeAt.Time.UTC()
				n.WakeAt = &t
			}
			ee.Next = n
		}
		for _, h := range hist {
			if h.EnrollmentID == e.ID {
				ee.History = append(ee.History, explainStep{At: h.At.UTC(), Step: h.Step, Action: h.Action, Variant: h.Variant, Detail: h.Detail})
			}
		}
		slices.SortStableFunc(ee.History, func(a, b explainStep) int {
			if c := a.At.Compare(b.At); c != 0 {
				return c
			}
			return rank(a.Step) - rank(b.Step)
		})
		for _, m := range msgs {
			if m.EnrollmentID.Valid && m.EnrollmentID.Int64 == e.ID {
				ee.Messages = append(ee.Messages, explainMessageOf(m))
			}
		}
		slices.SortStableFunc(ee.Messages, func(a, b explainMessage) int { return rank(a.Step) - rank(b.Step) })
		o.Enrollments = append(o.Enrollments, ee)
	}
	// Messages of no enrollment read here (one that was deleted) still went
	// to the contact: listed with the object.
	for _, m := range msgs {
		if !m.EnrollmentID.Valid || !slices.Contains(ids, m.EnrollmentID.Int64) {
			o.Messages = append(o.Messages, explainMessageOf(m))
		}
	}
	if len(ens) == 0 {
		switch {
		case !member && seq.Segment != "":
			o.NotEnrolled = "not in segment " + seq.Segment
		case addr == "":
			o.NotEnrolled = c.String() + " has no address, and contacts without one are not enrolled"
		default:
			o.NotEnrolled = "not enrolled yet: the daemon's leader enrolls new members every 30 s; is campaignctl serve running?"
		}
	}

	o.ABTests, err = x.abTests(ctx, "sequence", seq.Name, seq.Steps, splitKey, len(ens) > 0)
	return err
}

// abTests says, for each step of (kind, name) with an A/B test, which side of
// the split the contact (its enrolled record, splitKey) is on and the
// decision.
func (x *explainer) abTests(ctx context.Context, kind, name string, steps []plan.SequenceStep, splitKey string, enrolled bool) ([]explainABTest, error) {
	decisions, err := x.st.ObjectABDecisions(ctx, kind, name)
	if err != nil {
		return nil, needsMigrate(err)
	}
	var out []explainABTest
	for _, s := range steps {
		if s.ABTest == nil {
			continue
		}
		t := explainABTest{Step: s.Name}
		if enrolled {
			t.Variant, t.InTest = abtest.Assign(kind, name, s.Name, splitKey, s.ABTest)
		}
		for i := range decisions {
			if decisions[i].Step == s.Name {
				t.Decision = abDecisionOf(&decisions[i])
			}
		}
		t.Placement = abPlacement(t, enrolled)
		out = append(out, t)
	}
	return out, nil
}

// abPlacement says in words what the split gives the contact.
func abPlacement(t explainABTest, enrolled bool) string {
	d := t.Decision
	switch {
	case !enrolled:
		return "not enrolled, so in neither group"
	case t.InTest:
		return "in the test group: variant " + t.Variant
	case d == nil:
		return "in the remainder: waits for the decision"
	case d.Decision == "inconclusive: stop":
		return "in the remainder: the step is skipped (inconclusive, policy stop)"
	case d.Decision == "inconclusive: send_all":
		return "in the remainder, which is split among all variants too (inconclusive, policy send_all)"
	case d.Winner != "":
		return "in the remainder: gets " + d.Winner
	}
	return "in the remainder"
}

// writeExplainText prints one block per contact: its address, then per object
// the segment, the conjuncts, and what the runner did.
func writeExplainText(w io.Writer, doc explainDoc, p *plan.Plan, only *store.ObjectRef) error {
	var b bytes.Buffer
	for i, c := range doc.Contacts {
		if i > 0 {
			b.WriteByte('\n')
		}
		writeContactText(&b, c, p, only)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func writeContactText(b *bytes.Buffer, c explainContact, p *plan.Plan, only *store.ObjectRef) {
	name := c.Model + ":" + c.Key
	if c.Email != "" {
		fmt.Fprintf(b, "%s <%s>\n", name, strings.TrimSpace(c.Email))
	} else {
		fmt.Fprintf(b, "%s (no address)\n", name)
	}
	switch s := c.Suppression; {
	case c.Email == "":
		fmt.Fprintln(b, "  address: none: nothing is sent to this contact")
	case s == nil:
		fmt.Fprintln(b, "  address: not suppressed")
	default:
		via := ""
		if s.Campaign != "" {
			via = ", through " + s.Campaign
		}
		fmt.Fprintf(b, "  address: suppressed since %s (%s%s): every message to it is cancelled\n", s.Since.Format(time.RFC3339), s.Reason, via)
	}
	for _, line := range consentText(c.Consent, optInPolicies(p)) {
		fmt.Fprintln(b, line)
	}
	for _, line := range ledgerText(c.Ledger) {
		fmt.Fprintln(b, line)
	}
	if len(c.Objects) == 0 {
		if only != nil {
			fmt.Fprintf(b, "  %s %s is not for %s contacts\n", only.Kind, only.Name, c.Model)
		} else {
			fmt.Fprintf(b, "  no campaign, sequence or workflow of the applied plan is for %s contacts\n", c.Model)
		}
		return
	}
	for _, o := range c.Objects {
		fmt.Fprintf(b, "\n  %s %s\n", o.Kind, o.Name)
		if o.Trigger != nil {
			writeTriggerText(b, o.Trigger)
			if o.Segment != nil {
				writeSegmentText(b, o.Segment)
			}
		} else {
			writeSegmentText(b, o.Segment)
		}
		for _, m := range o.Messages {
			fmt.Fprintf(b, "    %s\n", messageLine(m, c.Key))
		}
		if o.NoMessage != "" {
			fmt.Fprintf(b, "    no message: %s\n", o.NoMessage)
		}
		if o.NotEnrolled != "" {
			fmt.Fprintf(b, "    enrollment: none: %s\n", o.NotEnrolled)
		}
		for _, e := range o.Enrollments {
			writeEnrollmentText(b, e, c.Key)
		}
		for _, t := range o.ABTests {
			fmt.Fprintf(b, "    A/B test on %s: %s; %s\n", t.Step, t.Placement, decisionText(t.Decision))
		}
		writePropertiesText(b, o.Properties)
	}
	if c.InNothing {
		fmt.Fprintf(b, "\n  %s:%s is in none of these objects' segments, and none of them has a message or an enrollment for it\n", c.Model, c.Key)
	}
}

func writeSegmentText(b *bytes.Buffer, s *explainSegment) {
	if s == nil {
		fmt.Fprintln(b, "    segment: none")
		return
	}
	verdict := "member now"
	if !s.Member {
		verdict = "not a member now"
	}
	fmt.Fprintf(b, "    segment %s: %s\n", s.Name, verdict)
	// A filter written over several lines is printed over several lines: a
	// // comment joined to the next line would seem to swallow it.
	var lines []string
	for _, l := range strings.Split(s.Filter, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	switch len(lines) {
	case 0:
		fmt.Fprintln(b, "      filter: (none: every contact of the model)")
	case 1:
		fmt.Fprintf(b, "      filter: %s\n", lines[0])
	default:
		fmt.Fprintln(b, "      filter:")
		for _, l := range lines {
			fmt.Fprintf(b, "        %s\n", l)
		}
	}
	if s.BreakdownError != "" {
		fmt.Fprintf(b, "      (no breakdown: %s)\n", s.BreakdownError)
	}
	if len(s.Conjuncts) == 0 {
		return
	}
	var rows bytes.Buffer
	tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
	for _, c := range s.Conjuncts {
		expr := c.Expr
		if c.DefaultFilter {
			expr += " (the model's default filter)"
		}
		var vals []string
		for _, f := range c.Fields {
			vals = append(vals, f.Field+" = "+formatFieldValue(f.Value))
		}
		fmt.Fprintf(tw, "      %t\t%s\t%s\n", c.Value, expr, strings.Join(vals, ", "))
	}
	tw.Flush()
	writeTrimmed(b, rows.String())
}

func writeEnrollmentText(b *bytes.Buffer, e explainEnrollment, key string) {
	through := ""
	if e.ContactKey != key {
		through = fmt.Sprintf(" (as contact %s, another record of the same address)", e.ContactKey)
	}
	if e.Occurrence > 1 {
		through += fmt.Sprintf(" (occurrence %d)", e.Occurrence)
	}
	enrolled := e.EnrolledAt.Format(time.RFC3339)
	switch {
	case e.State != "active":
		at := ""
		if e.ExitedAt != nil {
			at = " " + e.ExitedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(b, "    enrollment%s: exited (%s)%s, enrolled %s\n", through, e.ExitReason, at, enrolled)
	case e.Next == nil:
		fmt.Fprintf(b, "    enrollment%s: active since %s\n", through, enrolled)
	default:
		fmt.Fprintf(b, "    enrollment%s: active since %s; next: %s\n", through, enrolled, nextText(e.Next))
	}
	if e.TriggerEvent != nil {
		fmt.Fprintf(b, "    enrolled by: %s\n", triggerEventText(e.TriggerEvent))
	}
	if len(e.History) > 0 {
		fmt.Fprintln(b, "    history:")
		var rows bytes.Buffer
		tw := tabwriter.NewWriter(&rows, 0, 4, 2, ' ', 0)
		for _, h := range e.History {
			step, variant := h.Step, ""
			if step == "" {
				step = "-"
			}
			if h.Variant != "" {
				variant = "variant " + h.Variant
			}
			fmt.Fprintf(tw, "      %s\t%s\t%s\t%s\t%s\n", h.At.Format(time.RFC3339), step, h.Action, variant, h.Detail)
		}
		tw.Flush()
		writeTrimmed(b, rows.String())
	}
	for _, m := range e.Messages {
		fmt.Fprintf(b, "    %s\n", messageLine(m, e.ContactKey))
	}
}

func nextText(n *explainNext) string {
	switch {
	case n.Step == "":
		if n.WakeAt != nil {
			return "every step done, completes at " + n.WakeAt.Format(time.RFC3339)
		}
		return "every step done"
	case n.WaitingForABDecision != "":
		return fmt.Sprintf("%s, waiting for the A/B decision on %s", n.Step, n.WaitingForABDecision)
	case n.InWait != "" && n.InWait == n.Step && n.WakeAt != nil:
		// A branch waiting to test engagement with a message: it looks again.
		return fmt.Sprintf("%s, waiting there until %s", n.Step, n.WakeAt.Format(time.RFC3339))
	case n.InWait != "" && n.WakeAt != nil:
		return fmt.Sprintf("%s at %s, when wait %s ends", n.Step, n.WakeAt.Format(time.RFC3339), n.InWait)
	case n.WakeAt != nil:
		return fmt.Sprintf("%s at %s", n.Step, n.WakeAt.Format(time.RFC3339))
	}
	return n.Step
}

// messageLine says what became of one message, plainly: when it went out, or
// what it waits for.
func messageLine(m explainMessage, key string) string {
	head := "message"
	if m.Step != "" {
		head += " " + m.Step
	}
	if m.Variant != "" {
		head += " (variant " + m.Variant + ")"
	}
	if m.To != "" {
		head += " (to owner " + m.To + ")"
	}
	if m.ContactKey != key {
		head += " (to contact " + m.ContactKey + ", another record of the same address)"
	}
	var parts []string
	switch m.Status {
	case store.OutboxSent:
		s := "sent"
		if m.SentAt != nil {
			s += " " + m.SentAt.Format(time.RFC3339)
		}
		s += fmt.Sprintf(" (due %s, %s)", m.DueAt.Format(time.RFC3339), plural(m.Attempts, "attempt"))
		parts = append(parts, s)
		if m.MessageID != "" {
			parts = append(parts, "message-id "+m.MessageID)
		}
		if m.LastSMTP != "" {
			parts = append(parts, "smtp "+m.LastSMTP)
		}
	case store.OutboxPending:
		if m.Held != nil {
			if m.Held.Until == nil {
				parts = append(parts, "waiting: "+heldText(m.Held.Reason)+", due again once it is unpaused")
				break
			}
			parts = append(parts, "waiting: "+heldText(m.Held.Reason)+", due again "+m.Held.Until.Format(time.RFC3339))
			break
		}
		s := "pending, due " + m.DueAt.Format(time.RFC3339)
		if m.Attempts > 0 {
			s += fmt.Sprintf(" (%s so far)", plural(m.Attempts, "attempt"))
		}
		parts = append(parts, s)
		if m.LastSMTP != "" {
			parts = append(parts, "smtp "+m.LastSMTP)
		}
		if m.LastError != "" {
			parts = append(parts, "last error: "+m.LastError)
		}
	case store.OutboxFailed:
		parts = append(parts, fmt.Sprintf("failed after %s", plural(m.Attempts, "attempt")))
		if m.LastSMTP != "" {
			parts = append(parts, "smtp "+m.LastSMTP)
		}
		if m.LastError != "" {
			parts = append(parts, "error: "+m.LastError)
		}
	default:
		s := m.Status
		if m.LastError != "" {
			s += ": " + m.LastError
		}
		parts = append(parts, s)
	}
	return head + ": " + strings.Join(parts, ", ")
}

// quietHold reads send-time policy's quiet-hours reason, "quiet hours
// 21:00–08:00 in Asia/Tokyo until 08:00 local", with whatever follows it.
var quietHold = regexp.MustCompile(`^quiet hours (\S+) in (\S+) until (.+? (?:local|UTC))(.*)$`)

// heldText says what a message held by send-time policy waits for, the end
// first: "held by quiet hours until 08:00 local (21:00–08:00 in Asia/Tokyo)".
func heldText(reason string) string {
	if m := quietHold.FindStringSubmatch(reason); m != nil {
		return fmt.Sprintf("held by quiet hours until %s (%s in %s)%s", m[3], m[1], m[2], m[4])
	}
	return "held: " + reason
}

func decisionText(d *abDecisionStatus) string {
	if d == nil {
		return "not decided yet"
	}
	winner := "no winner"
	if d.Winner != "" {
		winner = "winner " + d.Winner
	}
	p := "p=n/a"
	if d.PValue != nil {
		p = "p=" + strconv.FormatFloat(*d.PValue, 'g', 3, 64)
	}
	return fmt.Sprintf("decided %s: %s (%s, %s, %s): %s", d.DecidedAt.Format(time.RFC3339), winner, d.Decision, p, d.Metric, d.Reason)
}

// writeTrimmed writes tabwriter output without the padding it leaves at the
// end of lines whose last cells are empty.
func writeTrimmed(b *bytes.Buffer, s string) {
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		b.WriteString(strings.TrimRight(line, " "))
		b.WriteByte('\n')
	}
}
