package msync

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestPageRoundTrip: a page encodes a run of hot changes and decodes
// to their nodes and dependency lists; a page cut short, padded or with
// a dependency pointing forward (a corrupt read) fails with
// ErrSpillRead.
func TestPageRoundTrip(t *testing.T) {
	g, _ := randomGraph(5, 400)
	const lo, hi = 150, 260
	b := g.encodePage(lo, hi)
	c, err := decodePage(b, 3, lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(lo); p < hi; p++ {
		if got, want := c.nodes[p-lo], g.nodes[p]; got.hash != want.hash || got.n != want.n {
			t.Fatalf("change %d: node %+v, want %+v", p, got, want)
		}
		if got, want := c.depsOf(p), g.depsOf(p); !slices.Equal(got, want) {
			t.Fatalf("change %d: dependencies %v, want %v", p, got, want)
		}
	}
	// Change 0 of a page from the history's start, naming one
	// dependency one change back: before the history.
	forward := append(make([]byte, 36), 1, 1)
	for _, tc := range []struct {
		name   string
		b      []byte
		lo, hi int32
	}{
		{"short", b[:len(b)-1], lo, hi},
		{"padded", append(slices.Clone(b), 0), lo, hi},
		{"empty", nil, lo, hi},
		{"header", b[:35], lo, hi},
		{"forward", forward, 0, 1},
		{"zero distance", append(make([]byte, 36), 1, 0), 5, 6},
		{"too many", append(make([]byte, 36), 0xff, 0xff, 0xff, 0xff, 0x0f), lo, lo + 1},
	} {
		if _, err := decodePage(tc.b, 3, tc.lo, tc.hi); !errors.Is(err, ErrSpillRead) {
			t.Errorf("%s page: %v", tc.name, err)
		}
	}
}

// FuzzDecodePage: any bytes read back decode to a page of exactly the
// changes asked for, each dependency an earlier change, or fail with
// ErrSpillRead; nothing panics.
func FuzzDecodePage(f *testing.F) {
	g, _ := randomGraph(6, 100)
	f.Add(g.encodePage(40, 60), uint8(20))
	f.Add(g.encodePage(0, 3), uint8(3))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, n uint8) {
		const lo = 40
		c, err := decodePage(b, 1, lo, lo+int32(n))
		if err != nil {
			if !errors.Is(err, ErrSpillRead) {
				t.Fatalf("error %v does not wrap ErrSpillRead", err)
			}
			return
		}
		if len(c.nodes) != int(n) {
			t.Fatalf("%d nodes for %d changes", len(c.nodes), n)
		}
		for p := int32(lo); p < lo+int32(n); p++ {
			for _, d := range c.depsOf(p) {
				if d < 0 || d >= p {
					t.Fatalf("change %d depends on %d", p, d)
				}
			}
		}
	})
}

// TestColdIndexGrows: the hash index of a graph most of whose changes
// are cold grows by their fingerprints, without reading a page, and
// finds every change after.
func TestColdIndexGrows(t *testing.T) {
	g := NewGraph()
	sp := &countingSpill{m: map[uint64][]byte{}}
	g.SpillTo(sp)
	var all []automerge.ChangeHash
	raw := make([]byte, 300)
	for i := range 6000 {
		h := testHash(i)
		var deps []automerge.ChangeHash
		if i > 0 {
			deps = all[i-1:]
		}
		g.Add(Change{Hash: h, Deps: deps}, raw)
		all = append(all, h)
		if i == 3000 {
			if g.hot < 2500 {
				t.Fatalf("%d of 3001 changes cold", g.hot)
			}
			sp.gets = 0
		}
	}
	// 3,000 more changes doubled the table at least once (8,192 slots
	// hold 6,144), placing the cold positions by fingerprint. A new
	// change's lookup reads a page only when its fingerprint matches a
	// cold one from the same home slot (19 free bits at 8,192 slots:
	// about one run in 300 reads one page); a grow that read pages
	// would read thousands.
	if sp.gets > 2 || len(g.index.slots) < 8192 {
		t.Fatalf("%d reads, %d slots", sp.gets, len(g.index.slots))
	}
	for i, h := range all {
		if p := g.pos(&h); p != int32(i) {
			t.Fatalf("change %d found at %d", i, p)
		}
	}
}

// countingSpill is a Spill in a map that counts its reads.
type countingSpill struct {
	m    map[uint64][]byte
	gets int
}

func (s *countingSpill) Put(data []byte) (SpillRef, error) {
	off := uint64(len(s.m))
	s.m[off] = slices.Clone(data)
	return SpillRef{Off: off, N: uint32(len(data))}, nil
}

func (s *countingSpill) Get(ref SpillRef, dst []byte) ([]byte, error) {
	s.gets++
	return append(dst, s.m[ref.Off]...), nil
}

func (s *countingSpill) Free(SpillRef) {}
