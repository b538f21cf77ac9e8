//go:build unix

package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPendingLeftovers: the temporary output files of commands killed
// while writing (kill -9: `segue play --out x.wav`, `segue decode`) were
// left beside the output for ever, each up to the whole output's size.
// The next createPending for that output removes the unlocked ones older
// than pendingGrace, and keeps a live writer's (locked) file, a fresh
// one, and other outputs' files.
func TestPendingLeftovers(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x[1].wav")
	old := time.Now().Add(-2 * pendingGrace)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	killed := mk(".x[1].wav.111.tmp", old)
	fresh := mk(".x[1].wav.222.tmp", time.Now())
	other := mk(".y.wav.333.tmp", old)
	live, err := createPending(out)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Discard()
	if err := os.Chtimes(live.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	next, err := createPending(out)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Discard()
	for p, want := range map[string]bool{killed: false, fresh: true, other: true, live.Name(): true, next.Name(): true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if _, err := live.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := live.Commit(); err != nil {
		t.Fatalf("commit of the live writer: %v", err)
	}
}
