package msync_test

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/sync/msync"
)

// lastChanges returns the chunks of d's last n changes, in history
// order.
func lastChanges(t testing.TB, d *automerge.Doc, n int) [][]byte {
	t.Helper()
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	defer automerge.CloseChanges(chs)
	var out [][]byte
	for _, c := range chs[len(chs)-n:] {
		out = append(out, c.Save())
	}
	return out
}

// chunkBody returns the body of the change chunk raw, a real change.
func chunkBody(raw []byte) []byte {
	b, err := amchunk.Body(raw)
	if err != nil {
		panic(err)
	}
	return b
}

// lazyBase is a playlist with a few changes, its graph and saved form.
type lazyBase struct {
	doc  *automerge.Doc
	save []byte
}

func newLazyBase(t testing.TB) lazyBase {
	d := playlistDoc(t, actorA)
	addTracks(t, d, "alice", 3, 2)
	return lazyBase{doc: d, save: d.Save()}
}

// relay returns a copy of b as the relay's document (actor actorC),
// closed when the test ends, and its change graph.
func (b lazyBase) relay(tb testing.TB) (*automerge.Doc, *msync.Graph) {
	tb.Helper()
	doc := b.fork(tb, actorC)
	tb.Cleanup(doc.Close)
	g, err := msync.Index(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return doc, g
}

// edits forks b as actorA, adds calls × per tracks to the fork as alice
// (one change per call) and returns the fork, closed when the test ends,
// and those changes.
func (b lazyBase) edits(tb testing.TB, calls, per int) (*automerge.Doc, [][]byte) {
	tb.Helper()
	alice := b.fork(tb, actorA)
	tb.Cleanup(alice.Close)
	addTracks(tb, alice, "alice", calls, per)
	return alice, lastChanges(tb, alice, calls)
}

// fork returns a copy of the base with actor set.
func (b lazyBase) fork(t testing.TB, actor string) *automerge.Doc {
	t.Helper()
	f, err := automerge.Load(b.save)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	return f
}

// agree checks the lazy path's decision on the encoded message msg
// (changes the base lacks) against automerge: it returns whether the
// lazy path takes msg (Graph.Fresh, Graph.Vouch and CheckParse; the
// repository also requires docs.Neutral, which only takes fewer). When it does,
// Doc.Apply of the message's changes to a copy of the base must succeed
// and give the heads of the graph after AddFresh, and so must
// LoadIncremental of the graph's new chunks (Handle.current's catch-up),
// into another copy.
func (b lazyBase) agree(t testing.TB, msg []byte, prepare func(g *msync.Graph)) bool {
	t.Helper()
	m, err := msync.DecodeMessage(msg)
	if err != nil {
		return false
	}
	g, err := msync.Index(b.doc)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(g)
	}
	fresh, ok := g.Fresh(m)
	if !ok {
		return false
	}
	if _, ok := g.Vouch(m, fresh); !ok {
		return false
	}
	if msync.CheckParse(msg) != nil {
		return false
	}
	n := g.Len()
	g.AddFresh(m, fresh)
	if g.Len() != n+len(fresh) {
		t.Fatalf("AddFresh added %d changes, want %d", g.Len()-n, len(fresh))
	}
	applied := b.fork(t, actorC)
	defer applied.Close()
	sm, err := automerge.LoadSyncMessage(msg)
	if err != nil {
		t.Fatalf("automerge decodes the message twice differently: %v", err)
	}
	chs := sm.Changes()
	err = applied.Apply(chs...)
	automerge.CloseChanges(chs)
	sm.Close()
	if err != nil {
		t.Fatalf("lazy path takes %x, automerge's Apply refuses it: %v", msg, err)
	}
	if got := applied.Heads(); !slices.Equal(got, g.Heads()) {
		t.Fatalf("Apply gives heads %v, the graph %v", got, g.Heads())
	}
	caught := b.fork(t, actorC)
	defer caught.Close()
	if err := caught.LoadIncremental(appendRaw(t, g, nil, n)); err != nil {
		t.Fatalf("lazy path takes %x, LoadIncremental of its chunks refuses them: %v", msg, err)
	}
	if got := caught.Heads(); !slices.Equal(got, g.Heads()) {
		t.Fatalf("LoadIncremental gives heads %v, the graph %v", got, g.Heads())
	}
	return true
}

// withStartOp returns the change chunk raw with its start op set to
// start (one LEB128 byte replacing one), its checksum recomputed.
func withStartOp(t *testing.T, raw []byte, start byte) []byte {
	t.Helper()
	body := chunkBody(raw)
	nd, k1 := binary.Uvarint(body)
	at := k1 + 32*int(nd)
	na, k2 := binary.Uvarint(body[at:])
	at += k2 + int(na)
	_, k3 := binary.Uvarint(body[at:])
	at += k3
	if body[at] >= 0x80 || start >= 0x80 {
		t.Fatal("withStartOp handles one-byte start ops only")
	}
	body[at] = start
	return amchunk.Chunk(body)
}

// message encodes a sync message carrying chunks.
func message(chunks ...[]byte) []byte {
	return (&msync.Message{Raw: chunks}).Encode()
}

// TestLazyAgreesWithApply: the lazy path (Graph.Fresh, then CheckParse)
// takes a message only when automerge's Apply would apply all its
// changes at once, with the heads the graph then has; it leaves to Apply
// what Apply queues or refuses: changes out of dependency order or
// missing a dependency, a duplicate sequence number (a forked actor, a
// number below the count, twice in one message), a change automerge does
// not parse, any message while the graph queues a change; and what
// automerge 0.5 applies but aborts on or may (Graph.Vouch): operation
// ids its actor already used, list element operations.
func TestLazyAgreesWithApply(t *testing.T) {
	b := newLazyBase(t)
	defer b.doc.Close()
	_, two := b.edits(t, 2, 1)
	twin := b.fork(t, actorA)
	defer twin.Close()
	addTracks(t, twin, "alice", 1, 1)
	twinNext := lastChanges(t, twin, 1)[0]
	known := lastChanges(t, b.doc, 1)[0]
	seq := func(raw []byte) byte {
		c, err := msync.ParseChange(raw)
		if err != nil {
			t.Fatal(err)
		}
		return byte(c.Seq)
	}
	list := b.fork(t, actorA)
	defer list.Close()
	l := automerge.NewList()
	if err := list.RootMap().Set("tags", l); err != nil {
		t.Fatal(err)
	}
	if err := l.Append("a", "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := list.Commit("tags"); err != nil {
		t.Fatal(err)
	}
	listChange := lastChanges(t, list, 1)[0]
	body := chunkBody(two[0])
	truncated := amchunk.Chunk(body[:len(body)-3])
	for _, tc := range []struct {
		name    string
		msg     []byte
		prepare func(g *msync.Graph)
		lazy    bool
	}{
		{"one change", message(two[0]), nil, true},
		{"two in order", message(two...), nil, true},
		{"repeated", message(two[0], two[0], two[1]), nil, true},
		{"known change only", message(known), nil, true},
		{"known and new", message(known, two[0]), nil, true},
		{"seq past a gap", message(withSeq(t, two[0], seq(two[0])+3)), nil, false},
		{"two reversed", message(two[1], two[0]), nil, false},
		{"missing dependency", message(two[1]), nil, false},
		{"forked actor, same seq", message(two[0], twinNext), nil, false},
		{"below the count", message(withSeq(t, two[0], seq(two[0])-1)), nil, false},
		{"seq 0", message(withSeq(t, two[0], 0)), nil, false},
		{"truncated operations", message(truncated), nil, false},
		{"start op reused", message(withStartOp(t, two[0], 2)), nil, false},
		{"list elements", message(listChange), nil, false},
		{"graph queues a change", message(two[0]), func(g *msync.Graph) {
			c, err := msync.ParseChange(two[1])
			if err != nil {
				t.Fatal(err)
			}
			g.Queue(msync.Change{Hash: automerge.ChangeHash{9}, Deps: c.Deps})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := b.agree(t, tc.msg, tc.prepare); got != tc.lazy {
				t.Errorf("lazy path takes it: %v, want %v", got, tc.lazy)
			}
		})
	}
	// The changes the table leaves to Apply are refused by it or queued.
	for _, tc := range []struct {
		name  string
		chunk []byte
	}{
		{"forked actor", twinNext},
		{"below the count", withSeq(t, two[0], seq(two[0])-1)},
	} {
		d := b.fork(t, actorC)
		sm, err := automerge.LoadSyncMessage(message(two[0], tc.chunk))
		if err != nil {
			t.Fatal(err)
		}
		chs := sm.Changes()
		if err := d.Apply(chs...); err == nil {
			t.Errorf("%s: automerge applies it", tc.name)
		}
		automerge.CloseChanges(chs)
		sm.Close()
		d.Close()
	}
	if _, err := automerge.LoadSyncMessage(message(truncated)); err == nil {
		t.Error("automerge parses the truncated change")
	}
}

// FuzzLazyAgreesWithApply: a real change with bytes of its body
// replaced (the fuzzer's pairs of position and value) or cut, its length
// and checksum recomputed: whatever the lazy path takes, automerge's
// Apply and LoadIncremental take too, with the graph's heads (agree).
func FuzzLazyAgreesWithApply(f *testing.F) {
	b := newLazyBase(f)
	defer b.doc.Close()
	alice := b.fork(f, actorA)
	defer alice.Close()
	addTracks(f, alice, "alice", 1, 2)
	next := chunkBody(lastChanges(f, alice, 1)[0])
	f.Add([]byte{}, 0)
	f.Add([]byte{0, 1}, 0)
	f.Add([]byte{40, 0xff, 41, 0x7f}, 0)
	f.Add([]byte{}, 5)
	f.Add([]byte{byte(len(next) - 10), 3}, 1)
	// Found by this target: the start op set to 2 (ids the actor used);
	// automerge's Apply aborted on it before Vouch refused it.
	f.Add([]byte("0\x020"), 278)
	f.Fuzz(func(t *testing.T, edits []byte, cut int) {
		body := bytes.Clone(next)
		for i := 0; i+1 < len(edits); i += 2 {
			body[int(edits[i])*len(body)/256] = edits[i+1]
		}
		if cut > 0 && cut < len(body) {
			body = body[:len(body)-cut]
		}
		b.agree(t, message(amchunk.Chunk(body)), nil)
	})
}

// BenchmarkVouchFirstUse reports what a document's first lazy receive
// pays for Graph.Vouch's per-actor index of operation ids on a graph of
// 10,000 changes (each change's operations decoded once), per change of
// the history; later calls decode only the changes added since.
func BenchmarkVouchFirstUse(b *testing.B) {
	const n = 10000
	incs, d := storedIncs(b, n)
	defer d.Close()
	e := automerge.NewMap()
	if err := d.Path("entries").Map().Set("entry-next", e); err != nil {
		b.Fatal(err)
	}
	if err := e.Set("track", "next"); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Commit(""); err != nil {
		b.Fatal(err)
	}
	m, err := msync.DecodeMessage(message(lastChanges(b, d, 1)...))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		g := msync.NewGraph()
		for _, inc := range incs {
			if _, err := g.AddChunks(inc); err != nil {
				b.Fatal(err)
			}
		}
		fresh, ok := g.Fresh(m)
		if !ok {
			b.Fatal("not fresh")
		}
		b.StartTimer()
		if _, ok := g.Vouch(m, fresh); !ok {
			b.Fatal("not vouched for")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/change")
}
