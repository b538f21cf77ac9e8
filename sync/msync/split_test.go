package msync_test

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// playlistDoc returns a new playlist document owned by alice with its
// actor set to actor.
func playlistDoc(t testing.TB, actor string) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	if err := d.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	if _, err := docs.CreatePlaylist(d, "alice", "Mix", docs.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	return d
}

// addTracks adds n tracks to the playlist d in one change per call
// (tracks per change each).
func addTracks(t testing.TB, d *automerge.Doc, by model.UserID, calls, per int) {
	t.Helper()
	p, err := docs.OpenPlaylist(d, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	for i := range calls {
		tracks := make([]model.TrackID, per)
		for j := range tracks {
			tracks[j] = model.TrackID(fmt.Sprintf("%s-t%05d-%03d", by, i, j))
		}
		if _, err := p.Add(docs.AtEnd(), by, tracks...); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	actorA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	actorB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	actorC = "cccccccccccccccccccccccccccccccc"
)

// TestSplitMatchesSaveIncremental: splitting the values SaveIncremental
// returns, one after each step of a document's history, gives exactly
// the document's changes in history order: Doc.Changes' hashes, their
// dependencies, actors and sequence numbers, and Change.Save's bytes.
// automerge 0.5's SaveIncremental writes every change as an uncompressed
// chunk (type 1), even a change of ≈ 0.9 MB: the test checks that too.
func TestSplitMatchesSaveIncremental(t *testing.T) {
	for _, tc := range []struct {
		name string
		// steps each change the document; SaveIncremental runs after
		// each one.
		steps []func(t *testing.T, d *automerge.Doc)
	}{
		{"owner edits", []func(*testing.T, *automerge.Doc){
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 1, 1) },
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 5, 1) },
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 1, 3) },
		}},
		{"collaborator edits", []func(*testing.T, *automerge.Doc){
			func(t *testing.T, d *automerge.Doc) {
				p, err := docs.OpenPlaylist(d, docs.DefaultOptions())
				if err != nil {
					t.Fatal(err)
				}
				if err := p.SetCollaborators("bob"); err != nil {
					t.Fatal(err)
				}
			},
			func(t *testing.T, d *automerge.Doc) { merged(t, d, actorB, "bob", 3) },
			func(t *testing.T, d *automerge.Doc) { merged(t, d, actorB, "bob", 2) },
		}},
		{"big changes", []func(*testing.T, *automerge.Doc){
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 1, 200) },
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 1, 10000) },
		}},
		{"several actors", []func(*testing.T, *automerge.Doc){
			func(t *testing.T, d *automerge.Doc) {
				merged(t, d, actorB, "bob", 2)
				merged(t, d, actorC, "carol", 2)
			},
			func(t *testing.T, d *automerge.Doc) { addTracks(t, d, "alice", 2, 1) },
			func(t *testing.T, d *automerge.Doc) { merged(t, d, actorC, "carol", 1) },
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := playlistDoc(t, actorA)
			defer d.Close()
			var incs [][]byte
			incs = append(incs, d.SaveIncremental())
			for _, step := range tc.steps {
				step(t, d)
				incs = append(incs, d.SaveIncremental())
			}
			chs, err := d.Changes()
			if err != nil {
				t.Fatal(err)
			}
			defer automerge.CloseChanges(chs)
			var got []msync.Change
			var gotRaw [][]byte
			for i, inc := range incs {
				cs, raws, err := msync.SplitChunks(inc)
				if err != nil {
					t.Fatalf("increment %d: %v", i, err)
				}
				if len(cs) == 0 {
					t.Fatalf("increment %d holds no change", i)
				}
				got = append(got, cs...)
				gotRaw = append(gotRaw, raws...)
			}
			if len(got) != len(chs) {
				t.Fatalf("split %d changes, the document has %d", len(got), len(chs))
			}
			t.Logf("%d changes, the largest %d bytes", len(got), len(slices.MaxFunc(gotRaw, func(a, b []byte) int { return len(a) - len(b) })))
			for i, ch := range chs {
				c := got[i]
				if c.Hash != ch.Hash() || !slices.Equal(c.Deps, ch.Dependencies()) || fmt.Sprintf("%x", c.Actor) != ch.ActorID() || c.Seq != ch.ActorSeq() {
					t.Fatalf("change %d: split %v %v %x %d, automerge %v %v %s %d", i, c.Hash, c.Deps, c.Actor, c.Seq, ch.Hash(), ch.Dependencies(), ch.ActorID(), ch.ActorSeq())
				}
				if !bytes.Equal(gotRaw[i], ch.Save()) {
					t.Fatalf("change %d: split bytes differ from Change.Save", i)
				}
				if gotRaw[i][8] != 1 {
					t.Fatalf("change %d (%d bytes): SaveIncremental wrote chunk type %d", i, len(gotRaw[i]), gotRaw[i][8])
				}
			}
		})
	}
}

// merged has a collaborator (actor, user) fork d, add n tracks one per
// change, and d merge them.
func merged(t *testing.T, d *automerge.Doc, actor string, user model.UserID, n int) {
	t.Helper()
	f, err := d.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	addTracks(t, f, user, n, 1)
	if _, err := d.Merge(f); err != nil {
		t.Fatal(err)
	}
}

// compress returns the change chunk raw (type 1) as a compressed chunk
// (type 2) with the same checksum, as automerge writes one.
func compress(t testing.TB, raw []byte) []byte {
	t.Helper()
	n, k := binary.Uvarint(raw[9:])
	body := raw[9+k : 9+k+int(n)]
	return compressedChunk(t, raw[4:8], body)
}

// compressedChunk returns a type-2 chunk with checksum sum whose body
// deflates to body.
func compressedChunk(t testing.TB, sum, body []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := append([]byte{0x85, 0x6f, 0x4a, 0x83}, sum...)
	out = binary.AppendUvarint(append(out, 2), uint64(z.Len()))
	return append(out, z.Bytes()...)
}

// TestSplitCompressedChunks: a compressed change chunk (type 2, which
// automerge writes in documents' and other implementations' change
// files, and LoadIncremental reads) splits into the uncompressed chunk
// with the same hash; automerge loads the compressed form into the same
// change, so the format is automerge's.
func TestSplitCompressedChunks(t *testing.T) {
	d := playlistDoc(t, actorA)
	defer d.Close()
	addTracks(t, d, "alice", 1, 50)
	addTracks(t, d, "alice", 1, 1)
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	defer automerge.CloseChanges(chs)
	var plain, mixed []byte
	for i, ch := range chs {
		raw := ch.Save()
		plain = append(plain, raw...)
		if i%2 == 1 {
			raw = compress(t, raw)
		}
		mixed = append(mixed, raw...)
	}
	cs, raws, err := msync.SplitChunks(mixed)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != len(chs) {
		t.Fatalf("split %d changes, want %d", len(cs), len(chs))
	}
	for i, ch := range chs {
		if cs[i].Hash != ch.Hash() || !bytes.Equal(raws[i], ch.Save()) {
			t.Fatalf("change %d differs", i)
		}
	}
	if !bytes.Equal(bytes.Join(raws, nil), plain) {
		t.Fatal("split chunks are not the uncompressed ones")
	}
	back := automerge.New()
	defer back.Close()
	if err := back.LoadIncremental(mixed); err != nil {
		t.Fatalf("automerge refuses the compressed chunks: %v", err)
	}
	if !slices.Equal(back.Heads(), d.Heads()) {
		t.Fatal("automerge loaded other changes from the compressed chunks")
	}
}

// TestSplitChunksErrors: malformed input, chunks that are not changes
// and inputs over the limits fail with their sentinel, never a panic.
func TestSplitChunksErrors(t *testing.T) {
	d := playlistDoc(t, actorA)
	defer d.Close()
	raw := d.SaveIncremental()
	snap := d.Save()
	// zeros is a compressed change of n zero bytes with its right
	// checksum: no dependencies, an empty actor, sequence number 0.
	zeros := func(n int) []byte {
		body := make([]byte, n)
		sum := sha256.Sum256(append(binary.AppendUvarint([]byte{1}, uint64(n)), body...))
		return compressedChunk(t, sum[:4], body)
	}
	big := zeros(msync.MaxChangeBody - 1024)
	if _, _, err := msync.SplitChunks(big); err != nil {
		t.Fatalf("a change under MaxChangeBody: %v", err)
	}
	overTotal := bytes.Repeat(big, msync.MaxInflated/len(big)+1)
	if _, _, err := msync.SplitChunks(bytes.Repeat(big, 3)); err != nil {
		t.Fatalf("changes under MaxInflated: %v", err)
	}
	wrongSum := compressedChunk(t, []byte{1, 2, 3, 4}, make([]byte, 1000))
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(raw)) }
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short", raw[:8], msync.ErrMalformed},
		{"bad magic", mut(func(b []byte) []byte { b[1] ^= 1; return b }), msync.ErrMalformed},
		{"truncated", raw[:len(raw)-1], msync.ErrMalformed},
		{"trailing garbage", append(bytes.Clone(raw), 1, 2, 3), msync.ErrMalformed},
		{"bad checksum", mut(func(b []byte) []byte { b[5] ^= 1; return b }), msync.ErrMalformed},
		{"length past the end", mut(func(b []byte) []byte { b[9] = 0xff; return b }), msync.ErrMalformed},
		{"document chunk", snap, msync.ErrNotChange},
		{"unknown type", mut(func(b []byte) []byte { b[8] = 7; return b }), msync.ErrNotChange},
		{"bad deflate", compressedChunk(t, raw[4:8], nil)[:10], msync.ErrMalformed},
		{"deflate garbage", mut(func(b []byte) []byte { b[8] = 2; return b }), msync.ErrMalformed},
		{"inflates past MaxChangeBody", zeros(msync.MaxChangeBody + 1), msync.ErrMalformed},
		{"inflates past MaxInflated in all", overTotal, msync.ErrMalformed},
		{"compressed, wrong checksum", wrongSum, msync.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, raws, err := msync.SplitChunks(tc.in)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if cs != nil || raws != nil {
				t.Fatal("a failed split returned changes")
			}
		})
	}
	if cs, raws, err := msync.SplitChunks(nil); err != nil || len(cs) != 0 || len(raws) != 0 {
		t.Fatalf("empty input: %v %v %v", cs, raws, err)
	}
}

// FuzzSplitChunks: SplitChunks never panics, keeps to its limits, and
// what it accepts is a sequence of chunks ParseChange reads the same,
// which automerge reads as the same changes.
func FuzzSplitChunks(f *testing.F) {
	d := playlistDoc(f, actorA)
	defer d.Close()
	inc := d.SaveIncremental()
	addTracks(f, d, "alice", 3, 2)
	inc2 := d.SaveIncremental()
	f.Add(inc)
	f.Add(append(bytes.Clone(inc), inc2...))
	f.Add(compress(f, inc))
	f.Add(d.Save())
	f.Add(inc[:30])
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, raws, err := msync.SplitChunks(b)
		if err != nil {
			if !errors.Is(err, msync.ErrMalformed) && !errors.Is(err, msync.ErrNotChange) {
				t.Fatalf("undocumented error %v", err)
			}
			return
		}
		if len(cs) != len(raws) {
			t.Fatalf("%d changes, %d chunks", len(cs), len(raws))
		}
		total := 0
		for i, raw := range raws {
			total += len(raw)
			c, err := msync.ParseChange(raw)
			if err != nil || c.Hash != cs[i].Hash || !slices.Equal(c.Deps, cs[i].Deps) || c.Seq != cs[i].Seq || !bytes.Equal(c.Actor, cs[i].Actor) {
				t.Fatalf("chunk %d reads back as %v, %v", i, c, err)
			}
		}
		if total > len(b)+msync.MaxInflated {
			t.Fatalf("%d bytes of chunks from %d bytes", total, len(b))
		}
		chs, err := automerge.LoadChanges(bytes.Join(raws, nil))
		if err != nil {
			// The operations are automerge's to read.
			return
		}
		defer automerge.CloseChanges(chs)
		if len(chs) != len(cs) {
			t.Fatalf("automerge reads %d changes, split %d", len(chs), len(cs))
		}
		for i, ch := range chs {
			if ch.Hash() != cs[i].Hash {
				t.Fatalf("change %d: automerge %s, split %s", i, ch.Hash(), cs[i].Hash)
			}
		}
	})
}

// withSeq returns the change chunk raw with its sequence number set to
// seq (a single LEB128 byte replacing one), its checksum recomputed.
func withSeq(t *testing.T, raw []byte, seq byte) []byte {
	t.Helper()
	n, k := binary.Uvarint(raw[9:])
	body := bytes.Clone(raw[9+k : 9+k+int(n)])
	nd, k1 := binary.Uvarint(body)
	at := k1 + 32*int(nd)
	na, k2 := binary.Uvarint(body[at:])
	at += k2 + int(na)
	if body[at] >= 0x80 || seq >= 0x80 {
		t.Fatal("withSeq handles one-byte sequence numbers only")
	}
	body[at] = seq
	hdr := binary.AppendUvarint([]byte{1}, uint64(len(body)))
	sum := sha256.Sum256(append(hdr, body...))
	out := append([]byte{0x85, 0x6f, 0x4a, 0x83}, sum[:4]...)
	return append(append(out, hdr...), body...)
}

// TestCheckSeqMatchesAutomerge: Graph.CheckSeq refuses exactly the
// changes automerge's apply refuses with DuplicateSeqNumber, given to a
// document and a graph holding the same changes: a forked actor's second
// change with the same sequence number, a number below the actor's
// count, but not a known change, another actor's change, the next
// number, or a number past a gap.
func TestCheckSeqMatchesAutomerge(t *testing.T) {
	base := playlistDoc(t, actorA)
	defer base.Close()
	addTracks(t, base, "alice", 1, 1)
	fork := func(actor string) *automerge.Doc {
		f, err := base.Fork()
		if err != nil {
			t.Fatal(err)
		}
		if err := f.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		return f
	}
	// Two devices with alice's actor id: each writes a change with the
	// next sequence number of actorA.
	twin1, twin2, bob := fork(actorA), fork(actorA), fork(actorB)
	defer twin1.Close()
	defer twin2.Close()
	defer bob.Close()
	addTracks(t, twin1, "alice", 1, 1)
	addTracks(t, twin2, "alice", 1, 1)
	addTracks(t, bob, "bob", 1, 1)
	last := func(d *automerge.Doc) []byte {
		chs, err := d.Changes()
		if err != nil {
			t.Fatal(err)
		}
		defer automerge.CloseChanges(chs)
		return chs[len(chs)-1].Save()
	}
	seq := func(raw []byte) uint64 {
		c, err := msync.ParseChange(raw)
		if err != nil {
			t.Fatal(err)
		}
		return c.Seq
	}
	t1 := last(twin1)
	next := byte(seq(t1))
	for _, tc := range []struct {
		name string
		// applied first, then given one after the other; dup reports
		// whether the last is refused.
		applied [][]byte
		given   []byte
		dup     bool
	}{
		{"known change", [][]byte{t1}, t1, false},
		{"forked actor, same seq", [][]byte{t1}, last(twin2), true},
		{"other actor", [][]byte{t1}, last(bob), false},
		{"next seq", nil, t1, false},
		{"below the count", [][]byte{t1}, withSeq(t, last(twin2), next-1), true},
		{"seq 0", nil, withSeq(t, last(twin2), 0), true},
		{"past a gap", nil, withSeq(t, t1, next+3), false},
		{"seq 1 again", nil, withSeq(t, last(twin2), 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := automerge.Load(base.Save())
			if err != nil {
				t.Fatal(err)
			}
			defer doc.Close()
			g, err := msync.Index(doc)
			if err != nil {
				t.Fatal(err)
			}
			apply := func(raw []byte) (amErr, gErr error) {
				c, err := msync.ParseChange(raw)
				if err != nil {
					t.Fatal(err)
				}
				gErr = g.CheckSeq(c)
				// LoadIncremental applies the changes with apply_changes,
				// as a sync message's are.
				if amErr = doc.LoadIncremental(raw); amErr == nil && gErr == nil {
					g.Add(c, raw)
				}
				return amErr, gErr
			}
			for _, raw := range tc.applied {
				if amErr, gErr := apply(raw); amErr != nil || gErr != nil {
					t.Fatalf("setup: automerge %v, graph %v", amErr, gErr)
				}
			}
			amErr, gErr := apply(tc.given)
			amDup := amErr != nil && strings.Contains(amErr.Error(), "duplicate seq")
			if amErr != nil && !amDup {
				t.Fatalf("automerge refuses for another reason: %v", amErr)
			}
			if amDup != tc.dup || errors.Is(gErr, msync.ErrDuplicateSeq) != tc.dup || (gErr != nil && !errors.Is(gErr, msync.ErrDuplicateSeq)) {
				t.Fatalf("automerge %v, graph %v; want duplicate %v", amErr, gErr, tc.dup)
			}
		})
	}
}

// TestAddChunks: a graph built from a document's stored increments
// (AddChunks) equals the one built from the document (Index): same
// changes in the same order, same chunks, same heads; a repeated change
// is skipped; a change without its dependencies and a duplicate
// sequence number fail.
func TestAddChunks(t *testing.T) {
	d := playlistDoc(t, actorA)
	defer d.Close()
	incs := [][]byte{d.SaveIncremental()}
	addTracks(t, d, "alice", 3, 1)
	merged(t, d, actorB, "bob", 2)
	incs = append(incs, d.SaveIncremental())
	addTracks(t, d, "alice", 1, 4)
	incs = append(incs, d.SaveIncremental())
	want, err := msync.Index(d)
	if err != nil {
		t.Fatal(err)
	}
	g := msync.NewGraph()
	for i, inc := range append(incs, incs[1]) {
		if _, err := g.AddChunks(inc); err != nil {
			t.Fatalf("increment %d: %v", i, err)
		}
	}
	if g.Len() != want.Len() || !slices.Equal(g.Heads(), want.Heads()) || g.Bytes() != want.Bytes() {
		t.Fatalf("graph from increments: %d changes, heads %v; from the document %d, %v", g.Len(), g.Heads(), want.Len(), want.Heads())
	}
	for i := range g.Len() {
		if !bytes.Equal(rawAt(t, g, i), rawAt(t, want, i)) {
			t.Fatalf("change %d differs", i)
		}
	}
	if _, err := msync.NewGraph().AddChunks(incs[1]); !errors.Is(err, msync.ErrMissingDeps) {
		t.Fatalf("increment without its base: %v, want ErrMissingDeps", err)
	}
	cs, raws, err := msync.SplitChunks(incs[2])
	if err != nil {
		t.Fatal(err)
	}
	dup := withSeq(t, raws[0], byte(cs[0].Seq-1))
	if n, err := g.AddChunks(dup); !errors.Is(err, msync.ErrDuplicateSeq) || n != 0 {
		t.Fatalf("duplicate sequence number: %d added, %v", n, err)
	}
}
