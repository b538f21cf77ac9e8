package userlimit

import (
	"testing"
	"time"
)

// TestLimiter: a key gets burst tokens at once, then one per period; keys
// are apart; past maxKeys the least recently seen key is forgotten and
// starts again with a full bucket.
func TestLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(time.Second, 3, 2)
	for i := range 3 {
		if ok, _ := l.Allow("ada", now); !ok {
			t.Fatalf("token %d of the burst refused", i)
		}
	}
	if ok, d := l.Allow("ada", now); ok || d != time.Second {
		t.Fatalf("past the burst: %v, retry in %v", ok, d)
	}
	if ok, _ := l.Allow("ada", now.Add(time.Second)); !ok {
		t.Fatal("a token a period later refused")
	}
	if ok, _ := l.Allow("bob", now); !ok {
		t.Fatal("another key refused")
	}
	l.Allow("carol", now) // forgets ada, the least recently seen
	if ok, _ := l.Allow("ada", now.Add(time.Second)); !ok || len(l.by) != 2 {
		t.Fatalf("a forgotten key: %v, %d keys kept", ok, len(l.by))
	}
}

// TestAllowN: n tokens are taken at once or none; the wait named is the
// one until n are there; more than the burst never fit.
func TestAllowN(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(time.Second, 10, 4)
	cases := []struct {
		name string
		at   time.Duration
		n    int
		ok   bool
		wait time.Duration
	}{
		{"6 of 10", 0, 6, true, 0},
		{"6 with 4 left", 0, 6, false, 2 * time.Second},
		{"4 left", 0, 4, true, 0},
		{"3 after 3 s", 3 * time.Second, 3, true, 0},
		{"more than the burst", 100 * time.Second, 11, false, -1},
	}
	for _, c := range cases {
		ok, wait := l.AllowN("ada", now.Add(c.at), c.n)
		if ok != c.ok || (c.wait >= 0 && wait != c.wait) || (c.wait < 0 && wait < time.Hour) {
			t.Fatalf("%s: %v, wait %v; want %v, wait %v", c.name, ok, wait, c.ok, c.wait)
		}
	}
	if l.Burst() != 10 {
		t.Fatalf("burst %d, want 10", l.Burst())
	}
}
