package msync_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// bulky commits n changes to d, each setting a key to a random string of
// 200 to 1,200 bytes, and returns their total size.
func bulky(t *testing.T, d *automerge.Doc, rng *rand.Rand, who string, n int) int {
	t.Helper()
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := range n {
		var b strings.Builder
		for range 200 + rng.IntN(1000) {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		if err := d.RootMap().Set(fmt.Sprintf("%s%d", who, i%7), b.String()); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(who, noTime); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, c := range cs {
		total += len(c.Save())
	}
	return total
}

// sortedHeads returns d's heads sorted.
func sortedHeads(d *automerge.Doc) []automerge.ChangeHash {
	hs := d.Heads()
	slices.SortFunc(hs, func(a, b automerge.ChangeHash) int { return slices.Compare(a[:], b[:]) })
	return hs
}

// TestGenerateWithin: a relay (msync's state) holding a history many
// times its message limit brings a fresh device (automerge's state, as
// devices run), or one with offline edits of its own, up to date: every
// message it sends is within the limit, changes beyond it wait for the
// device's answers, and the two converge in about history/limit round
// trips; the size GenerateWithin bounds is the encoding's. With the
// whole frame as the limit the history leaves in one message, larger
// than the other limits.
func TestGenerateWithin(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		devEdits int
	}{
		{"4 KiB", 4 << 10, 0},
		{"4 KiB, device edits", 4 << 10, 5},
		{"16 KiB", 16 << 10, 0},
		{"16 KiB, device edits", 16 << 10, 20},
		{"frame", wire.MaxSyncData, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.max+tc.devEdits)))
			src := automerge.New()
			total := bulky(t, src, rng, "r", 80)
			doc, err := automerge.Load(src.Save())
			if err != nil {
				t.Fatal(err)
			}
			g, err := msync.CatchUp(nil, doc, doc.Heads())
			if err != nil {
				t.Fatal(err)
			}
			relay := &goRelay{doc: doc, g: g, s: &msync.State{}}
			dev := automerge.New()
			if tc.devEdits > 0 {
				bulky(t, dev, rng, "d", tc.devEdits)
			}
			ds := automerge.NewSyncState(dev)
			rounds, largest := 0, 0
			for ; rounds < 200; rounds++ {
				said := false
				if m, ok := ds.GenerateMessage(); ok {
					relay.receive(t, m.Bytes())
					said = true
				}
				m, err := msync.GenerateWithin(relay.g, relay.s, tc.max)
				if err != nil {
					t.Fatal(err)
				}
				if m != nil {
					b := m.Encode()
					if n := msync.MessageSize(m); n != len(b) {
						t.Fatalf("round %d: size %d, encoded %d bytes", rounds, n, len(b))
					}
					if len(b) > tc.max {
						t.Fatalf("round %d: message of %d bytes, limit %d", rounds, len(b), tc.max)
					}
					largest = max(largest, len(b))
					if _, err := ds.ReceiveMessage(b); err != nil {
						t.Fatal(err)
					}
					said = true
				}
				if !said {
					break
				}
			}
			if !slices.Equal(sortedHeads(dev), sortedHeads(doc)) {
				t.Fatalf("no convergence after %d rounds", rounds)
			}
			if tc.devEdits > 0 && len(dev.Heads()) < 2 {
				t.Fatal("the device's edits were not merged")
			}
			// Each message but the last carries at least max − 2 KiB of
			// changes (a change is at most ≈ 1.3 KiB, the heads and
			// filter a few hundred bytes): the bound fails when changes
			// are left out needlessly.
			bound := total/(tc.max-2<<10) + 4
			if rounds > bound {
				t.Fatalf("%d rounds for %d bytes of history at %d bytes a message, want ≤ %d", rounds, total, tc.max, bound)
			}
			if tc.max < total && largest <= tc.max/2 {
				t.Fatalf("largest message %d bytes: the limit %d was never approached", largest, tc.max)
			}
			t.Logf("%d bytes of history in %d rounds, largest message %d bytes", total, rounds, largest)
		})
	}
}

// TestGenerateWithinTooLarge: a change that cannot fit the limit with the
// message's heads, needs and filter is not sent and not recorded as
// sent: GenerateWithin returns wire.ErrSyncTooLarge and leaves the state
// as it was, so a later call with room sends it; a message whose heads
// alone are over the limit is refused the same way.
func TestGenerateWithinTooLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	doc := automerge.New()
	bulky(t, doc, rng, "r", 3)
	g, err := msync.CatchUp(nil, doc, doc.Heads())
	if err != nil {
		t.Fatal(err)
	}
	s := &msync.State{}
	dev := automerge.New()
	ds := automerge.NewSyncState(dev)
	m, ok := ds.GenerateMessage()
	if !ok {
		t.Fatal("device says nothing")
	}
	relay := &goRelay{doc: doc, g: g, s: s}
	relay.receive(t, m.Bytes())
	before := fmt.Sprintf("%+v", *s)
	for _, max := range []int{100, 20} {
		if _, err := msync.GenerateWithin(g, s, max); !errors.Is(err, wire.ErrSyncTooLarge) {
			t.Fatalf("limit %d: err = %v, want ErrSyncTooLarge", max, err)
		}
		if after := fmt.Sprintf("%+v", *s); after != before {
			t.Fatalf("limit %d: state changed:\n%s\n%s", max, before, after)
		}
	}
	got, err := msync.GenerateWithin(g, s, wire.MaxSyncData)
	if err != nil || got == nil || len(got.Raw) != 3 {
		t.Fatalf("with room: %+v, %v; want the 3 changes", got, err)
	}
}
