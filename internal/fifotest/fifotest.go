//go:build unix

// Package fifotest helps tests that check code refuses named pipes
// (FIFOs) instead of blocking in open(2) for a writer that never comes.
package fifotest

import (
	"os"
	"testing"
	"time"
)

// Unblock ends a test whose code under test is blocked opening one of
// fifos: it opens each for writing and closes it, every 50 ms until done
// answers (each open by the code under test then sees an empty file),
// and fails the test with what done answered. It never returns.
func Unblock(t *testing.T, fifos []string, done <-chan error) {
	t.Helper()
	for {
		for _, p := range fifos {
			if w, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
				w.Close()
			}
		}
		select {
		case err := <-done:
			t.Fatalf("blocked opening a FIFO (then: %v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
