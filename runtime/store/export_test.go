package store

import "context"

// ErasedAmongForTest exposes erasedAmong to the external tests' benchmark.
func (s *Store) ErasedAmongForTest(ctx context.Context, addrs []string) (int, error) {
	m, err := s.erasedAmong(ctx, addrs)
	return len(m), err
}

// InboundQueryForTest is the text of one of inbound.sql's queries, for the
// plan tests.
func InboundQueryForTest(name string) string { return inboundQueries[name] }

// QueryForTest is the text of one of queries.sql's queries, for the plan
// tests.
func QueryForTest(name string) string { return queries[name] }

// AllQueriesForTest is every named query of the store's files (queries.sql,
// privacy.sql, retention.sql, inbound.sql), for the plan tests.
func AllQueriesForTest() map[string]string {
	out := make(map[string]string, len(queries)+len(inboundQueries))
	for name, text := range queries {
		out[name] = text
	}
	for name, text := range inboundQueries {
		out[name] = text
	}
	return out
}
