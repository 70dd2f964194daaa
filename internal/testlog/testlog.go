// Package testlog collects what rotor writes during a test, so tests can
// search it, for example for a canary secret.
package testlog

import (
	"bytes"
	"sync"
	"testing"

	"github.com/rotorhq/rotor/internal/canary"
)

// Buffer is a bytes.Buffer that is safe for concurrent writers, such as a
// logger used by several goroutines.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// New returns an empty Buffer that is searched for the canary secrets
// (package canary) when t and its subtests end: t fails if anything
// written to the Buffer contains one in any form. Write the log of the
// code under test to it.
func New(t testing.TB) *Buffer {
	b := &Buffer{}
	t.Cleanup(func() { canary.Check(t, "the log", b.String()) })
	return b
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
