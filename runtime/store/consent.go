package store

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lib/pq"
)

//go:embed privacy.sql
var privacySQL string

func init() {
	for name, text := range mustParseQueries(privacySQL) {
		if _, dup := queries[name]; dup {
			panic("store: query " + name + " is in both queries.sql and privacy.sql")
		}
		queries[name] = text
	}
}

// Consent ledger actions and sources (migration 010_consent.sql).
const (
	ConsentGrant    = "grant"
	ConsentWithdraw = "withdraw"

	ConsentSourceForm        = "form"
	ConsentSourceImport      = "import"
	ConsentSourceLink        = "link"
	ConsentSourceUnsubscribe = "unsubscribe"
	ConsentSourceOperator    = "operator"
)

// ConsentSources lists the sources the ledger accepts.
var ConsentSources = []string{ConsentSourceForm, ConsentSourceImport, ConsentSourceLink, ConsentSourceUnsubscribe, ConsentSourceOperator, ConsentSourcePreferenceCenter}

// ConsentEntry is one grant or withdrawal. Subscription "" is consent to all
// marketing mail.
type ConsentEntry struct {
	ID           int64     `db:"id" json:"id"`
	Email        string    `db:"email_normalized" json:"email"`
	Subscription string    `db:"subscription" json:"subscription"`
	Action       string    `db:"action" json:"action"`
	Source       string    `db:"source" json:"source"`
	Evidence     string    `db:"evidence" json:"-"`
	RecordedAt   time.Time `db:"recorded_at" json:"recorded_at"`
}

// EvidenceMap decodes the entry's evidence.
func (e ConsentEntry) EvidenceMap() map[string]any {
	out := map[string]any{}
	_ = json.Unmarshal([]byte(e.Evidence), &out)
	return out
}

// RecordConsent appends one entry to the consent ledger. evidence may be nil.
func (s *Store) RecordConsent(ctx context.Context, email, subscription, action, source string, evidence map[string]any, at time.Time) (int64, error) {
	if evidence == nil {
		evidence = map[string]any{}
	}
	ev, err := json.Marshal(evidence)
	if err != nil {
		return 0, fmt.Errorf("recording consent: evidence: %w", err)
	}
	var id int64
	if err := s.DB.GetContext(ctx, &id, q("record-consent"), email, subscription, action, source, string(ev), at); err != nil {
		return 0, fmt.Errorf("recording consent: %w", err)
	}
	return id, nil
}

// ConsentHistory is one address's ledger, oldest first.
func (s *Store) ConsentHistory(ctx context.Context, email string) ([]ConsentEntry, error) {
	var out []ConsentEntry
	if err := s.DB.SelectContext(ctx, &out, q("consent-history"), email); err != nil {
		return nil, fmt.Errorf("reading the consent ledger: %w", err)
	}
	return out, nil
}

// LatestConsent returns, for each of the normalized addresses that has ledger
// entries, its latest entry per subscription ("" = all marketing mail).
func (s *Store) LatestConsent(ctx context.Context, emails []string) (map[string]map[string]ConsentEntry, error) {
	var rows []ConsentEntry
	if err := s.DB.SelectContext(ctx, &rows, q("latest-consent"), pq.Array(emails)); err != nil {
		return nil, fmt.Errorf("reading the consent ledger: %w", err)
	}
	out := map[string]map[string]ConsentEntry{}
	for _, r := range rows {
		if out[r.Email] == nil {
			out[r.Email] = map[string]ConsentEntry{}
		}
		out[r.Email][r.Subscription] = r
	}
	return out, nil
}
