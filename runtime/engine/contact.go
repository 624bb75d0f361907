package engine

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
	"github.com/campaignctl/campaignctl/runtime/store"
)

// batchContacts holds the contact rows of one claimed batch for personalization.
// They are read when the batch is claimed, fresh at send time, so a name fixed in
// the CRM after materialization is used; and with one query per model rather than
// one per message, so a batch of 500 messages costs one round trip, not 500.
type batchContacts struct {
	rows map[string]map[string]map[string]any // model name → contact key → fields
	errs map[string]error                     // model name → why its rows could not be read
	// props holds, for the models whose fields workflows write
	// (set_property, clear_property, assign_owner), what they wrote for the
	// batch's contacts: model → contact key → field → value (nil: cleared).
	// Templates, consent conditions and the time zone see it over the
	// CRM's row (withWrites); segments (do_not_email included) read the
	// same writes in SQL (runtime/segment), of the same forms.
	props map[string]map[string]map[string]*string
	// written is the revision's plan.FieldsWorkflowsWrite: the fields whose
	// writes consent and the time zone read, the ones segments read.
	written map[string]map[string]bool
	// caps is what the claim decided for its rows under a frequency cap
	// (decideCaps; nil: no cap applies; err set: it could not be counted).
	caps *capDecisions
	// budget holds the batch's grants of its senders' daily quotas and rates
	// (nil: none applies).
	budget *budgets
	// ledger is the latest consent ledger entry per address and subscription
	// of the batch's addresses, read when an opt_in rule applies to the batch
	// (consent.go); ledgerErr says why it could not be read.
	ledger    map[string]map[string]store.ConsentEntry
	ledgerErr error
}

// capDecisions is what a claim decided for its rows under a frequency cap
// (decideCaps). It is not changed once the claim hands out its rows, so the
// workers read it without a lock.
type capDecisions struct {
	// decided holds, for each capped row of the claim, how many marketing
	// messages its address had in its window when it was decided (sent,
	// held by other claims, and this claim's rows decided before it); a row
	// without room was released in the database.
	decided map[int64]int
	// byClaims marks the rows that had no room only because of messages
	// other claims held unsent: those may yet be given back, so the row is
	// counted again soon (capInFlightRetry), not after the cap's hour.
	byClaims map[int64]bool
	// err says why the caps could not be counted: the claim's capped
	// messages are then held briefly, never sent uncounted.
	err error
}

// decision returns how many messages the row's address had when its room
// under the cap was decided; false when it was not decided at the claim.
func (c *capDecisions) decision(id int64) (int, bool) {
	n, ok := c.decided[id]
	return n, ok
}

// heldByClaims reports whether the row had no room only because of what
// other claims held unsent when it was decided.
func (c *capDecisions) heldByClaims(id int64) bool {
	return c.byClaims[id]
}

// decideCaps decides, when the claim is made, which of its capped marketing
// rows fit under their frequency caps. Every claimed row counts against
// every other claim's caps, of this replica or another, from its claim on
// until it is sent or given back; the rows without room (and those quiet
// hours hold now) are released in the same transaction (Store.DecideCaps):
// the cap holds across batches and replicas, not only within a claim. Rows
// are decided in claim order, each counting the ones before it that fit, so
// two objects in one claim count each other. Suppressed rows and those of a
// paused object are left out (they are not sent now). nil when no cap
// applies to the claim.
func decideCaps(ctx context.Context, st *store.Store, l *loaded, worker string, contacts batchContacts, rows []store.Claimed, now time.Time) *capDecisions {
	if !l.anyCap {
		return nil // no per-row work on the hot path of a plan without caps
	}
	type capped struct {
		per   time.Duration
		max   int
		quiet bool
	}
	var widest time.Duration
	var crows []store.Claimed
	var cs []capped
	for _, r := range rows {
		tg, err := l.target(r)
		if err != nil || tg.rules == nil || !(r.Class == "" || r.Class == plan.ClassMarketing) {
			continue
		}
		per, max := tg.rules.FrequencyWindow()
		if max <= 0 || suppressedFor(tg, r) || l.isPaused(tg.kind, tg.name) {
			continue
		}
		quiet, _, _, _ := tg.rules.Hold(now, contactTZ(tg, contacts, r), -1)
		crows, cs = append(crows, r), append(cs, capped{per: per, max: max, quiet: quiet})
		widest = maxDuration(widest, per)
	}
	if len(cs) == 0 {
		return nil
	}
	cd := &capDecisions{decided: map[int64]int{}, byClaims: map[int64]bool{}}
	cd.err = st.DecideCaps(ctx, worker, rows, crows, now.Add(-widest), func(counts store.CapCounts) (release []store.Claimed) {
		sent := counts.Sent
		for i, r := range crows {
			c := cs[i]
			inFlight := counts.InFlight[r.EmailNorm]
			n := inFlight
			for _, t := range sent[r.EmailNorm] {
				if t.After(now.Add(-c.per)) {
					n++
				}
			}
			cd.decided[r.ID] = n
			if c.quiet || n >= c.max {
				if !c.quiet && n-inFlight < c.max {
					cd.byClaims[r.ID] = true
				}
				release = append(release, r)
				continue
			}
			sent[r.EmailNorm] = append(sent[r.EmailNorm], now) // counted by the claim's later rows
		}
		return release
	})
	return cd
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// loadBatchContacts reads the contacts of rows, grouped by the model of each row's
// campaign. Rows whose campaign, segment or model is not in the plan are left out:
// sendOne and compose report those on their own. For the models whose fields
// workflows write (written, the revision's), it also reads what they wrote.
func loadBatchContacts(ctx context.Context, st *store.Store, p *plan.Plan, written map[string]map[string]bool, rows []store.Claimed) batchContacts {
	keys := map[string][]string{}
	var models []*plan.Model
	for _, r := range rows {
		m, ok := modelOf(p, r.Kind, r.Campaign)
		if !ok {
			continue
		}
		if _, seen := keys[m.Name]; !seen {
			models = append(models, m)
		}
		keys[m.Name] = append(keys[m.Name], r.ContactKey)
	}
	out := batchContacts{rows: map[string]map[string]map[string]any{}, errs: map[string]error{}, written: written}
	for _, m := range models {
		byKey, err := loadContacts(ctx, st, m, keys[m.Name])
		if err != nil {
			out.errs[m.Name] = err
			continue
		}
		out.rows[m.Name] = byKey
		if len(written[m.Name]) == 0 {
			continue // no extra query unless a workflow writes this model's fields
		}
		props, err := st.ContactProperties(ctx, m.Name, keys[m.Name])
		if err != nil {
			out.errs[m.Name] = err
			continue
		}
		if out.props == nil {
			out.props = map[string]map[string]map[string]*string{}
		}
		out.props[m.Name] = props
	}
	return out
}

// withWrites returns fields, the CRM's row of contact key of model m, with
// what workflows wrote for it laid over as templates, consent conditions and
// the time zone read it (overlayWrites). fields itself is not changed.
func (b batchContacts) withWrites(m *plan.Model, key string, fields map[string]any) map[string]any {
	return overlayWrites(m, fields, b.props[m.Name][key], b.written[m.Name])
}

// overlayWrites returns fields, the CRM's row of a contact of model m, with
// props, what workflows wrote for the contact, laid over as workflow
// conditions read them, for the fields in written only: the fields the
// plan's workflows write, the set segments read the writes of. A value is
// read as segments read it (plan.PropertyValue): of its field's form, as
// its value; of any other form, or cleared, missing, as a segment's NULL. So
// a consent condition and a segment over one field never disagree, even on a
// value stored before the engine checked what it writes. fields itself is
// not changed.
func overlayWrites(m *plan.Model, fields map[string]any, props map[string]*string, written map[string]bool) map[string]any {
	if len(props) == 0 || len(written) == 0 {
		return fields
	}
	out := make(map[string]any, len(fields)+len(props))
	for k, v := range fields {
		out[k] = v
	}
	for f, v := range props {
		if !written[f] {
			continue
		}
		delete(out, f)
		if v == nil {
			continue
		}
		if fd, ok := modelField(m, f); ok {
			if cv, err := plan.PropertyValue(fd.Type, *v); err == nil {
				out[f] = cv
			}
		}
	}
	return out
}

// get returns the fields of contact key of model m, with the errors the
// one-contact read used to give: sql.ErrNoRows for a contact no longer in the CRM.
func (b batchContacts) get(m *plan.Model, key string) (map[string]any, error) {
	if err := b.errs[m.Name]; err != nil {
		return nil, &contactsUnavailable{err: err}
	}
	fields, ok := b.rows[m.Name][key]
	if !ok {
		return nil, fmt.Errorf("loading contact %s from %s: %w", key, m.Table, sql.ErrNoRows)
	}
	return fields, nil
}

// loadContacts reads the fields of the contacts of model m whose key is in keys,
// by key as text (the form materialization stored in the outbox). NULL becomes a
// missing value, which templates render through their default.
func loadContacts(ctx context.Context, st *store.Store, m *plan.Model, keys []string) (map[string]map[string]any, error) {
	rows, _, err := loadContactRows(ctx, st, m, keys, false)
	return rows, err
}

// loadContactRows is loadContacts that, with withEmail, also returns each
// contact's address (the model's email column, trimmed) by key.
func loadContactRows(ctx context.Context, st *store.Store, m *plan.Model, keys []string, withEmail bool) (map[string]map[string]any, map[string]string, error) {
	cols := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		cols[i] = pq.QuoteIdentifier(sqlgen.ColumnName(f))
	}
	table, err := sqlgen.QuoteTable(m.Table)
	if err != nil {
		return nil, nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	key := pq.QuoteIdentifier(m.Key)
	if withEmail {
		cols = append(cols, "btrim(coalesce("+pq.QuoteIdentifier(m.Email)+"::text, ''))")
	}
	// key = ANY($1), not key::text = ANY($1): the array takes the key column's
	// type, so the key's index is used.
	// A model may declare no fields (a key and an address are enough for a
	// template that reads nothing of the contact): the select list is then
	// the key alone.
	list := append([]string{key + "::text"}, cols...)
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s = ANY($1)", strings.Join(list, ", "), table, key)
	// Prepared once per model: this runs once per claimed batch. A CRM table
	// altered under a prepared statement ("cached plan must not change result
	// type") falls back to a plain query.
	rs, err := st.DB.QueryContext(ctx, query, pq.Array(keys))
	if err != nil {
		return nil, nil, fmt.Errorf("loading contacts from %s: %w", m.Table, err)
	}
	defer rs.Close()
	out := make(map[string]map[string]any, len(keys))
	emails := map[string]string{}
	var email string
	vals := make([]any, len(m.Fields))
	ptrs := make([]any, 1+len(m.Fields), 2+len(m.Fields))
	var k string
	ptrs[0] = &k
	for i := range vals {
		ptrs[1+i] = &vals[i]
	}
	if withEmail {
		ptrs = append(ptrs, &email)
	}
	for rs.Next() {
		if err := rs.Scan(ptrs...); err != nil {
			return nil, nil, fmt.Errorf("loading contacts from %s: %w", m.Table, err)
		}
		if _, dup := out[k]; dup {
			continue // a key column without a unique index: the first row wins
		}
		fields := make(map[string]any, len(m.Fields))
		for i, f := range m.Fields {
			v := vals[i]
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			if v != nil {
				fields[f.Name] = v
			}
		}
		out[k] = fields
		if withEmail {
			emails[k] = email
		}
	}
	if err := rs.Err(); err != nil {
		return nil, nil, fmt.Errorf("loading contacts from %s: %w", m.Table, err)
	}
	return out, emails, nil
}

// contactsUnavailable: the batch's contacts could not be read at all (the
// database restarting, the CRM table renamed). That says nothing about the
// message, so the row is given back for later rather than failed; only a
// contact that is gone (sql.ErrNoRows) fails its message.
type contactsUnavailable struct{ err error }

func (e *contactsUnavailable) Error() string { return e.err.Error() }
func (e *contactsUnavailable) Unwrap() error { return e.err }
