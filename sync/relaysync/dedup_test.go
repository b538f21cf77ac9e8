package relaysync

import (
	"fmt"
	"testing"
	"time"
)

func TestDedupBounded(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		key   string
		count uint64
		after time.Duration
		want  bool
	}{
		{"a", 1, 0, true},
		{"a", 1, time.Second, false},
		{"a", 2, 2 * time.Second, true},
		{"b", 5, 3 * time.Second, true},
		{"b", 4, 4 * time.Second, false},
		{"a", 2, 5 * time.Minute, false},
		// b was last seen at 3 s: forgotten after the 10-minute window.
		{"b", 4, 11 * time.Minute, true},
	}
	d := newDedup(10*time.Minute, 100)
	for i, s := range steps {
		if got := d.fresh(s.key, s.count, t0.Add(s.after)); got != s.want {
			t.Fatalf("step %d (%s,%d at %v): fresh = %v, want %v", i, s.key, s.count, s.after, got, s.want)
		}
	}
	// a (last seen at 5 min) expired at 15 min+; only b remains.
	d.expire(t0.Add(16 * time.Minute))
	if d.len() != 1 {
		t.Fatalf("len = %d, want 1", d.len())
	}

	// The size cap evicts the least recently seen pair.
	d = newDedup(time.Hour, 3)
	for i := range 10 {
		d.fresh(fmt.Sprint("k", i), 1, t0)
	}
	if d.len() != 3 {
		t.Fatalf("len = %d, want 3", d.len())
	}
	if d.fresh("k9", 1, t0) || !d.fresh("k0", 1, t0) {
		t.Fatal("eviction order: want k9 kept and k0 forgotten")
	}
}
