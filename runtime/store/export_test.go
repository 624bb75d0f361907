package store

import "context"

// ErasedAmongForTest exposes erasedAmong to the external tests' benchmark.
func (s *Store) ErasedAmongForTest(ctx context.Context, addrs []string) (int, error) {
	m, err := s.erasedAmong(ctx, addrs)
	return len(m), err
}
