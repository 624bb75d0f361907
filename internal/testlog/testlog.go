// Package testlog holds what tests need to read a daemon's log: a buffer
// that loggers on many goroutines may write at once.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a log destination written from many goroutines; String returns
// what was written so far.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
