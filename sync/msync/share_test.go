package msync_test

import (
	"bytes"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestEncodeAsWire: Message.Encode writes the bytes wire.SyncMessage
// writes for the same fields, with and without haves, Bloom filters and
// changes.
func TestEncodeAsWire(t *testing.T) {
	cs, raws := chain(t, 3)
	hashes := []automerge.ChangeHash{cs[0].Hash, cs[1].Hash, cs[2].Hash}
	bloom := msync.NewBloom(hashes)
	wh := func(hs []automerge.ChangeHash) [][32]byte {
		out := make([][32]byte, len(hs))
		for i := range hs {
			out[i] = hs[i]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		m    msync.Message
	}{
		{"empty", msync.Message{}},
		{"heads", msync.Message{Heads: hashes[2:]}},
		{"need", msync.Message{Heads: hashes[2:], Need: hashes[:2]}},
		{"empty have", msync.Message{Heads: hashes[2:], Have: []msync.Have{{}}}},
		{"have with bloom", msync.Message{Heads: hashes[2:], Have: []msync.Have{{LastSync: hashes[:1], Bloom: bloom}}}},
		{"two haves", msync.Message{Have: []msync.Have{{LastSync: hashes[:1], Bloom: bloom}, {LastSync: hashes[1:]}}}},
		{"changes", msync.Message{Heads: hashes[2:], Have: []msync.Have{{LastSync: hashes[:1]}}, Raw: raws[1:]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := wire.SyncMessage{Type: 0x42, Heads: wh(tc.m.Heads), Need: wh(tc.m.Need), Changes: tc.m.Raw}
			for _, h := range tc.m.Have {
				w.Have = append(w.Have, wire.SyncHave{LastSync: wh(h.LastSync), Bloom: h.Bloom.Bytes()})
			}
			if got, want := tc.m.Encode(), w.Encode(); !bytes.Equal(got, want) {
				t.Fatalf("Encode = %x\nwire    %x", got, want)
			}
		})
	}
}

// TestSharedHeadsStay: the heads a message and a sync state share with
// the graph (State's slices are replaced, never modified) stay what they
// were when the graph gains changes and the state moves on.
func TestSharedHeadsStay(t *testing.T) {
	cs, raws := chain(t, 3)
	g := msync.NewGraph()
	g.Add(cs[0], raws[0])
	s := &msync.State{}
	m := generate(t, g, s)
	if m == nil {
		t.Fatal("no first message")
	}
	heads, sent := slices.Clone(m.Heads), s.LastSentHeads
	for i := 1; i < len(cs); i++ {
		g.Add(cs[i], raws[i])
		if err := msync.Receive(g, s, &msync.Message{Heads: []automerge.ChangeHash{cs[i].Hash}, Have: []msync.Have{{}}}, nil); err != nil {
			t.Fatal(err)
		}
		if generate(t, g, s) == nil {
			t.Fatalf("no message after change %d", i)
		}
	}
	if !slices.Equal(m.Heads, heads) || !slices.Equal(sent, heads) {
		t.Fatalf("first message's heads became %x, the state's first sent heads %x, want %x", m.Heads, sent, heads)
	}
	if want := []automerge.ChangeHash{cs[2].Hash}; !slices.Equal(s.LastSentHeads, want) || !slices.Equal(g.Heads(), want) {
		t.Fatalf("last sent heads %x, graph heads %x, want %x", s.LastSentHeads, g.Heads(), want)
	}
}
