// Package spilltest holds the conformance suite every msync.Spill runs
// (Run) and Mem, an in-memory Spill with injected failures for tests of
// the graphs that spill.
package spilltest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/segue-fm/segue/sync/msync"
)

// ErrInjected is the error of a Put or Get Mem was told to fail.
var ErrInjected = errors.New("spilltest: injected failure")

// Mem is an msync.Spill in a map, safe for concurrent use. FailPuts and
// FailGets make its calls fail with ErrInjected while set.
type Mem struct {
	mu    sync.Mutex
	next  uint64
	slabs map[uint64][]byte
	freed int

	failPuts, failGets bool
}

var _ msync.Spill = (*Mem)(nil)

// NewMem returns an empty Mem.
func NewMem() *Mem { return &Mem{slabs: map[uint64][]byte{}} }

// FailPuts makes Put fail (on) or work again.
func (m *Mem) FailPuts(on bool) { m.mu.Lock(); m.failPuts = on; m.mu.Unlock() }

// FailGets makes Get fail (on) or work again.
func (m *Mem) FailGets(on bool) { m.mu.Lock(); m.failGets = on; m.mu.Unlock() }

// Put stores a copy of data.
func (m *Mem) Put(data []byte) (msync.SpillRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPuts {
		return msync.SpillRef{}, ErrInjected
	}
	if len(data) == 0 {
		return msync.SpillRef{}, errors.New("spilltest: put 0 bytes")
	}
	ref := msync.SpillRef{Off: m.next, N: uint32(len(data))}
	m.slabs[m.next] = bytes.Clone(data)
	m.next += uint64(len(data))
	return ref, nil
}

// Get appends the slab at ref to dst.
func (m *Mem) Get(ref msync.SpillRef, dst []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failGets {
		return dst, ErrInjected
	}
	b, ok := m.slabs[ref.Off]
	if !ok || len(b) != int(ref.N) {
		return dst, fmt.Errorf("spilltest: no slab of %d bytes at %d", ref.N, ref.Off)
	}
	return append(dst, b...), nil
}

// Free drops the slab at ref.
func (m *Mem) Free(ref msync.SpillRef) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.slabs[ref.Off]; ok {
		delete(m.slabs, ref.Off)
		m.freed++
	}
}

// Held returns how many slabs m holds and how many it freed.
func (m *Mem) Held() (slabs, freed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.slabs), m.freed
}

// Run is the conformance suite of msync.Spill: open returns a new, empty
// Spill for one subtest (closed by the caller's cleanup if it needs
// closing).
func Run(t *testing.T, open func(t *testing.T) msync.Spill) {
	t.Run("RoundTrip", func(t *testing.T) {
		s := open(t)
		rnd := rand.New(rand.NewPCG(1, 2))
		type put struct {
			ref  msync.SpillRef
			data []byte
		}
		var puts []put
		for i := range 200 {
			data := make([]byte, 1+rnd.IntN(9000))
			for j := range data {
				data[j] = byte(rnd.Uint32())
			}
			ref, err := s.Put(data)
			if err != nil {
				t.Fatalf("put %d: %v", i, err)
			}
			if ref.N != uint32(len(data)) {
				t.Fatalf("put %d of %d bytes: ref of %d", i, len(data), ref.N)
			}
			data[0] ^= 0xff // the spill holds a copy
			data[0] ^= 0xff
			puts = append(puts, put{ref, data})
		}
		for _, i := range rnd.Perm(len(puts)) {
			got, err := s.Get(puts[i].ref, []byte("prefix"))
			if err != nil {
				t.Fatalf("get %d: %v", i, err)
			}
			if !bytes.Equal(got, append([]byte("prefix"), puts[i].data...)) {
				t.Fatalf("get %d: %d bytes differ from the %d put", i, len(got)-6, len(puts[i].data))
			}
		}
		// Free every other slab, reading the rest after each.
		for i := 0; i < len(puts); i += 2 {
			s.Free(puts[i].ref)
			j := (i + 1) % len(puts)
			if got, err := s.Get(puts[j].ref, nil); err != nil || !bytes.Equal(got, puts[j].data) {
				t.Fatalf("get %d after freeing %d: %v", j, i, err)
			}
		}
		for i := 1; i < len(puts); i += 2 {
			if got, err := s.Get(puts[i].ref, nil); err != nil || !bytes.Equal(got, puts[i].data) {
				t.Fatalf("get %d at the end: %v", i, err)
			}
		}
		// Slabs put after frees read back.
		ref, err := s.Put([]byte("after"))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(ref, nil); err != nil || string(got) != "after" {
			t.Fatalf("get after frees: %q, %v", got, err)
		}
	})
	t.Run("BadRef", func(t *testing.T) {
		s := open(t)
		ref, err := s.Put([]byte("slab"))
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []msync.SpillRef{{Off: ref.Off, N: 0}, {Off: ref.Off + 1<<40, N: 4}, {Off: ref.Off, N: 1 << 30}} {
			if got, err := s.Get(bad, []byte("x")); err == nil || string(got) != "x" {
				t.Errorf("get %+v: %q, %v; want an error and dst as it was", bad, got, err)
			}
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := range 8 {
			wg.Go(func() {
				for i := range 100 {
					data := bytes.Repeat([]byte{byte(w), byte(i)}, 100+i)
					ref, err := s.Put(data)
					if err != nil {
						errs <- err
						return
					}
					got, err := s.Get(ref, nil)
					if err != nil || !bytes.Equal(got, data) {
						errs <- fmt.Errorf("worker %d slab %d: %v", w, i, err)
						return
					}
					if i%3 == 0 {
						s.Free(ref)
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}
