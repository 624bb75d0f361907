package inbound

import (
	"errors"
	"io"
	"sync"
)

// errNoMemory is budget.read's refusal: the budget is spent.
var errNoMemory = errors.New("inbound: the memory budget for message data is spent")

// budget is the memory the sessions' message buffers may hold at once.
// Without it each session held its message, up to the size limit and about
// as much again while its buffer grew, so 64 connections could make the
// daemon take 1.3 GB. It counts the buffers' capacity, a buffer being grown
// and the one it replaces both; not the parser's copies, nor garbage not
// yet collected.
type budget struct {
	max int64

	mu   sync.Mutex
	used int64
}

// take reserves n bytes, or reports that they would exceed the budget.
func (b *budget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *budget) give(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// read reads a message's data into one buffer that doubles from 32 KiB up to
// limit at most (never past it: go-smtp's reader ends an oversize message
// at limit bytes with its 552 error), reserving each growth first. The
// caller gives back cap(raw) once done with raw; on errNoMemory raw is nil
// and nothing is held.
func (b *budget) read(r io.Reader, limit int64) (raw []byte, err error) {
	for {
		if len(raw) == cap(raw) {
			n := min(max(2*int64(cap(raw)), 32<<10), limit)
			if n <= int64(cap(raw)) {
				// At the limit: go-smtp's reader says whether the data ended.
				var one [1]byte
				for {
					k, err := r.Read(one[:])
					switch {
					case err == io.EOF:
						return raw, nil
					case err != nil:
						return raw, err
					case k > 0: // go-smtp's reader never does this
						return raw, errors.New("inbound: data past the size limit")
					}
				}
			}
			if !b.take(n) {
				b.give(int64(cap(raw)))
				return nil, errNoMemory
			}
			grown := make([]byte, len(raw), n)
			copy(grown, raw)
			b.give(int64(cap(raw)))
			raw = grown
		}
		k, err := r.Read(raw[len(raw):cap(raw)])
		raw = raw[:len(raw)+k]
		if err == io.EOF {
			return raw, nil
		}
		if err != nil {
			return raw, err
		}
	}
}
