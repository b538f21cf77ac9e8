package ttlmap

import (
	"testing"
	"time"
)

// TestMap: entries are kept until their TTL, the bound is held (expired
// entries go first, then the one expiring first), and Clear drops
// everything.
func TestMap(t *testing.T) {
	now := time.Unix(1000, 0)
	m := New[int, string](2, time.Minute, func() time.Time { return now })
	m.Put(1, "a")
	now = now.Add(30 * time.Second)
	m.Put(2, "b")
	for _, c := range []struct {
		at   time.Duration // after the second put
		k    int
		want string
		ok   bool
	}{
		{0, 1, "a", true},
		{0, 2, "b", true},
		{0, 3, "", false},
		{30 * time.Second, 1, "", false}, // expired
		{30 * time.Second, 2, "b", true},
		{60 * time.Second, 2, "", false},
	} {
		m.now = func() time.Time { return now.Add(c.at) }
		if v, ok := m.Get(c.k); v != c.want || ok != c.ok {
			t.Errorf("+%s Get(%d) = %q, %v; want %q, %v", c.at, c.k, v, ok, c.want, c.ok)
		}
	}
	m.now = func() time.Time { return now.Add(45 * time.Second) } // 1 expired, 2 fresh
	m.Put(3, "c")
	if _, ok := m.Get(2); !ok || m.Len() != 2 {
		t.Fatalf("after a Put into a full map: %d entries, 2 kept %v; want the expired one dropped", m.Len(), ok)
	}
	m.Put(4, "d") // none expired: 2, expiring first, goes
	if m.Len() != 2 {
		t.Fatalf("%d entries, want the bound 2", m.Len())
	}
	if _, ok := m.Get(2); ok {
		t.Fatal("the entry expiring first was kept over the bound")
	}
	if v, ok := m.Get(4); !ok || v != "d" {
		t.Fatalf("the newest entry: %q %v", v, ok)
	}
	m.Put(3, "c2") // an existing key: nothing goes
	if v, ok := m.Get(3); !ok || v != "c2" || m.Len() != 2 {
		t.Fatalf("replacing a key: %q %v, %d entries", v, ok, m.Len())
	}
	m.Clear()
	if _, ok := m.Get(4); ok || m.Len() != 0 {
		t.Fatal("Clear kept entries")
	}
}
