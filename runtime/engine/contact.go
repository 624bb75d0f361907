package engine

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/campaignctl/campaignctl/compiler/plan"
	"github.com/campaignctl/campaignctl/runtime/segment/sqlgen"
)

type mailAddress struct{ name, addr string }

func (a *mailAddress) String() string { return (&mail.Address{Name: a.name, Address: a.addr}).String() }

// loadContact reads one contact's fields for personalization, fresh at send time
// so a name fixed in the CRM after materialization is used. NULL becomes a
// missing value, which templates render through their default.
func loadContact(ctx context.Context, db *sqlx.DB, m *plan.Model, key string) (map[string]any, error) {
	cols := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		cols[i] = pq.QuoteIdentifier(sqlgen.ColumnName(f))
	}
	table, err := sqlgen.QuoteTable(m.Table)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	query := fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1", strings.Join(cols, ", "), table, pq.QuoteIdentifier(m.Key))
	vals := make([]any, len(m.Fields))
	ptrs := make([]any, len(m.Fields))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := db.QueryRowContext(ctx, query, key).Scan(ptrs...); err != nil {
		return nil, fmt.Errorf("loading contact %s from %s: %w", key, m.Table, err)
	}
	out := make(map[string]any, len(m.Fields))
	for i, f := range m.Fields {
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		if v != nil {
			out[f.Name] = v
		}
	}
	return out, nil
}
