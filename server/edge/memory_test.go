package edge

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"testing"
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
