package edge

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"
	"time"
)

// TestMemoryPerObject measures what the memory level costs per cached
// object beyond its body: 100,000 objects of 1 KiB are put into a store
// whose budget holds them all, and the live heap grows by the bodies
// plus this overhead (key string, otter node, frequency sketch share).
// It fails above 1 KiB per object.
func TestMemoryPerObject(t *testing.T) {
	const n, size = 100_000, 1 << 10
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	s, err := newStore(DefaultOptions("http://parent").WithMemoryBytes(2 * n * size))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for i := range n {
		b := make([]byte, size)
		binary.BigEndian.PutUint64(b, uint64(i))
		s.put(objKey{kind: 'b', hash: sha256.Sum256(b)}, b)
	}
	s.wait()
	after := heap()
	if got := s.mem.EstimatedSize(); got != n {
		t.Fatalf("%d objects held, want %d", got, n)
	}
	perObject := (float64(after) - float64(before) - n*size) / n
	t.Logf("memory level: %.0f bytes of overhead per cached object (%d objects of %d bytes; heap %d → %d)",
		perObject, n, size, before, after)
	if perObject > 1024 {
		t.Errorf("overhead %.0f bytes per object, want ≤ 1024", perObject)
	}
	runtime.KeepAlive(s)
}

// TestMemoryHeldAfterEviction: an object the memory level drops while an
// answer is still being written from it stays charged to the memory
// budget until its reader lets go, so cached bodies plus bodies being
// sent stay within WithMemoryBytes. Before, a dropped object was outside
// every budget: with a 3 MiB level, three new 1 MiB objects were cached
// beside the 1 MiB still being sent (4 MiB).
func TestMemoryHeldAfterEviction(t *testing.T) {
	const size, budget = 1 << 20, 3 << 20
	s, err := newStore(DefaultOptions("http://parent").WithMemoryBytes(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	obj := func(i byte) (objKey, []byte) {
		b := make([]byte, size)
		b[0] = i
		return objKey{kind: 'b', hash: sha256.Sum256(b)}, b
	}
	k, b := obj(0)
	s.put(k, b)
	s.wait()
	_, release, ok := s.getHeld(k)
	if !ok {
		t.Fatal("object not cached")
	}
	s.mem.Invalidate(k.String()) // dropped while its answer is written
	// The deletion is reported on a goroutine of its own.
	for deadline := time.Now().Add(10 * time.Second); s.mem.GetMaximum() != budget-size && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	for i := byte(1); i <= 3; i++ {
		s.put(obj(i))
	}
	s.wait()
	cached := int64(s.mem.WeightedSize())
	if mem, _ := s.usage(); cached+size > budget || mem > budget {
		t.Errorf("%d bytes cached beside the %d being sent (usage %d), want ≤ %d in all", cached, size, mem, budget)
	}
	release()
	if s.mem.GetMaximum() != budget {
		t.Errorf("after the last reader: level maximum %d, want the budget %d", s.mem.GetMaximum(), budget)
	}
	if mem, _ := s.usage(); mem > budget {
		t.Errorf("usage %d after the last reader, want ≤ %d", mem, budget)
	}
}
