package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lib/pq"
)

// ErasureKeyEnv holds the key forgotten addresses are hashed with. It must
// never change: an address hashed with another key is not recognised.
const ErasureKeyEnv = "CAMPAIGNCTL_ERASURE_KEY"

// Erasure hashes the addresses of forgotten people with a secret key, so the
// suppression list can keep them out without holding their address: without
// the key nobody can read the address back, nor test a guessed one.
type Erasure struct {
	key []byte
	id  string
}

// NewErasure makes the hasher of key (at least 16 bytes).
func NewErasure(key []byte) (*Erasure, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("%s must be at least 16 bytes (it is %d): generate one with openssl rand -hex 32, and keep it for good", ErasureKeyEnv, len(key))
	}
	e := &Erasure{key: append([]byte(nil), key...)}
	mac := hmac.New(sha256.New, e.key)
	mac.Write([]byte("campaignctl erasure key id"))
	e.id = hex.EncodeToString(mac.Sum(nil))[:8]
	return e, nil
}

// ID names the key without revealing it.
func (e *Erasure) ID() string { return e.id }

// Hash is the suppression key of a forgotten address: erased:<key id>:<hex
// HMAC-SHA256 of the normalized address>.
func (e *Erasure) Hash(addr string) string {
	mac := hmac.New(sha256.New, e.key)
	mac.Write([]byte(strings.ToLower(strings.TrimSpace(addr))))
	return "erased:" + e.id + ":" + hex.EncodeToString(mac.Sum(nil))
}

// CheckErasureKey refuses a daemon that could not recognise the forgotten
// addresses on the suppression list: some exist and it has no key, or they
// were hashed with another one.
func (s *Store) CheckErasureKey(ctx context.Context) error {
	var ids []string
	if err := s.DB.SelectContext(ctx, &ids, q("erasure-key-ids")); err != nil {
		return fmt.Errorf("reading erased suppressions: %w", err)
	}
	for _, id := range ids {
		if s.Erasure == nil {
			return fmt.Errorf("the suppression list holds forgotten addresses (campaignctl contact forget), which this daemon cannot recognise without the key they were hashed with: set %s", ErasureKeyEnv)
		}
		if id != s.Erasure.ID() {
			return fmt.Errorf("the suppression list holds addresses forgotten with erasure key %s, but %s is key %s: set the key contact forget used", id, ErasureKeyEnv, s.Erasure.ID())
		}
	}
	return nil
}

// erasedAmong returns which of addrs are forgotten addresses (by their hash);
// nil when there is no key.
func (s *Store) erasedAmong(ctx context.Context, addrs []string) (map[string]bool, error) {
	if s.Erasure == nil || len(addrs) == 0 {
		return nil, nil
	}
	byHash, hashes := s.erasureKeys(addrs)
	var found []string
	if err := s.DB.SelectContext(ctx, &found, q("suppressed-among"), pq.Array(hashes)); err != nil {
		return nil, fmt.Errorf("checking forgotten addresses: %w", err)
	}
	out := make(map[string]bool, len(found))
	for _, h := range found {
		out[byHash[h]] = true
	}
	return out, nil
}

// erasureKeys returns the suppression keys a forgotten one of addrs would
// have (Erasure.Hash), once each, and the address (normalized) of each; none
// without a key.
func (s *Store) erasureKeys(addrs []string) (byHash map[string]string, hashes []string) {
	if s.Erasure == nil {
		return nil, nil
	}
	byHash = make(map[string]string, len(addrs))
	hashes = make([]string, 0, len(addrs))
	for _, a := range addrs {
		h := s.Erasure.Hash(a)
		if _, dup := byHash[h]; !dup {
			byHash[h] = strings.ToLower(strings.TrimSpace(a))
			hashes = append(hashes, h)
		}
	}
	return byHash, hashes
}

// ContactRef names the runner's rows of one person: the normalized address
// and, per contact key, the objects of the key's model.
type ContactRef struct {
	Address string
	// Objects are (kind, object, contact key) of every object of each key's
	// model; Models are (model, contact key).
	Objects []ObjectKey
	Models  []ModelKey
}

type ObjectKey struct{ Kind, Object, Key string }
type ModelKey struct{ Model, Key string }

func (c ContactRef) arrays() (addr string, kinds, objects, okeys, models, mkeys pq.StringArray) {
	for _, o := range c.Objects {
		kinds, objects, okeys = append(kinds, o.Kind), append(objects, o.Object), append(okeys, o.Key)
	}
	for _, m := range c.Models {
		models, mkeys = append(models, m.Model), append(mkeys, m.Key)
	}
	if kinds == nil {
		kinds, objects, okeys = pq.StringArray{}, pq.StringArray{}, pq.StringArray{}
	}
	if models == nil {
		models, mkeys = pq.StringArray{}, pq.StringArray{}
	}
	return strings.ToLower(strings.TrimSpace(c.Address)), kinds, objects, okeys, models, mkeys
}

// ObjectKeysOf returns the (kind, object, contact key) of the runner's rows
// that carry addr: how a person no longer in the CRM is still found.
func (s *Store) ObjectKeysOf(ctx context.Context, addr string) ([]ObjectKey, error) {
	var rows []struct {
		Kind   string `db:"kind"`
		Object string `db:"object"`
		Key    string `db:"contact_key"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q("contact-object-keys"), strings.ToLower(strings.TrimSpace(addr))); err != nil {
		return nil, fmt.Errorf("finding the contact's keys: %w", err)
	}
	out := make([]ObjectKey, len(rows))
	for i, r := range rows {
		out[i] = ObjectKey{Kind: r.Kind, Object: r.Object, Key: r.Key}
	}
	return out, nil
}

// ContactExport is every row the runner holds about one person, per table,
// each row as the table stores it.
type ContactExport map[string]json.RawMessage

// ExportContact reads every row the runner holds about c.
func (s *Store) ExportContact(ctx context.Context, c ContactRef) (ContactExport, error) {
	addr, kinds, objects, okeys, models, mkeys := c.arrays()
	var rows []struct {
		Source string `db:"source"`
		Rows   string `db:"rows"`
	}
	if err := s.DB.SelectContext(ctx, &rows, q("contact-rows"), addr, kinds, objects, okeys, models, mkeys); err != nil {
		return nil, fmt.Errorf("reading the contact's rows: %w", err)
	}
	out := ContactExport{}
	for _, r := range rows {
		out[r.Source] = json.RawMessage(r.Rows)
	}
	return out, nil
}

// Forgotten is what ForgetContact did.
type Forgotten struct {
	AuditID int64
	Counts  map[string]int64
	Hash    bool // the address's hash is on the suppression list
}

// ForgetContact erases every row the runner holds about c in one
// transaction, puts the keyed hash of the address on the suppression list (so
// the person is never mailed again) and writes an audit row without the
// address. It needs the erasure key.
func (s *Store) ForgetContact(ctx context.Context, c ContactRef, actor, reason string, at time.Time) (Forgotten, error) {
	var out Forgotten
	if s.Erasure == nil {
		return out, fmt.Errorf("forgetting needs the erasure key: set %s (≥ 16 bytes, the same for every daemon, forever)", ErasureKeyEnv)
	}
	addr, kinds, objects, okeys, models, mkeys := c.arrays()
	tx, err := s.DB.BeginTxx(ctx, nil)
	if err != nil {
		return out, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL campaignctl.erasure = 'on'`); err != nil {
		return out, err
	}
	out.Counts = map[string]int64{}
	steps := []struct {
		table, query string
		args         []any
	}{
		{"events", "forget-events", []any{models, mkeys}},
		{"contact_properties", "forget-contact-properties", []any{models, mkeys}},
		{"outbox", "forget-outbox", []any{addr, kinds, objects, okeys}},
		{"enrollments", "forget-enrollments", []any{addr, kinds, objects, okeys}},
		{"enrollment_exclusions", "forget-exclusions", []any{kinds, objects, okeys}},
		{"enrollment_audit_redacted", "redact-enrollment-audit", []any{kinds, objects, okeys}},
		{"consent_ledger", "forget-consent-ledger", []any{addr}},
		{"suppressions", "forget-suppression", []any{addr}},
	}
	for _, st := range steps {
		res, err := tx.ExecContext(ctx, q(st.query), st.args...)
		if err != nil {
			return out, fmt.Errorf("erasing from %s: %w", st.table, err)
		}
		n, _ := res.RowsAffected()
		out.Counts[st.table] = n
	}
	if addr != "" {
		if _, err := tx.ExecContext(ctx, q("suppress-erased"), s.Erasure.Hash(addr), at); err != nil {
			return out, fmt.Errorf("suppressing the forgotten address: %w", err)
		}
		out.Hash = true
	}
	counts, _ := json.Marshal(out.Counts)
	if err := tx.GetContext(ctx, &out.AuditID, q("insert-erasure-audit"), at, actor, reason, string(counts)); err != nil {
		return out, fmt.Errorf("writing the erasure audit: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return out, err
	}
	return out, nil
}
