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
