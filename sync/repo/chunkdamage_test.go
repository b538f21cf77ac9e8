package repo

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// lastIncrement returns the key and value of id's last stored increment.
func lastIncrement(t *testing.T, st store.Store, id docs.DocumentID) ([]byte, []byte) {
	t.Helper()
	var k, v []byte
	if err := st.Iterate(t.Context(), incPrefix(id), false, func(key, val []byte) error {
		k, v = bytes.Clone(key), bytes.Clone(val)
		return nil
	}); err != nil || k == nil {
		t.Fatalf("no increment stored: %v", err)
	}
	return k, v
}

// chunkSpans returns the [start, end) of each chunk of inc.
func chunkSpans(t *testing.T, inc []byte) (spans [][2]int) {
	t.Helper()
	for off := 0; off < len(inc); {
		n, k := wire.ReadULEB(inc[off+9:])
		if k <= 0 {
			t.Fatalf("bad chunk at %d", off)
		}
		end := off + 9 + k + int(n)
		spans = append(spans, [2]int{off, end})
		off = end
	}
	return spans
}

// compressChunk returns the change chunk raw (type 1) as automerge writes
// it compressed (type 2): the same checksum, the body deflated.
func compressChunk(t *testing.T, raw []byte) []byte {
	t.Helper()
	n, k := binary.Uvarint(raw[9:])
	var z bytes.Buffer
	w, err := flate.NewWriter(&z, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw[9+k : 9+k+int(n)]); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out := binary.AppendUvarint(append(bytes.Clone(raw[:8]), 2), uint64(z.Len()))
	return append(out, z.Bytes()...)
}

// TestDamagedChunkCorrupt damages the last increment of a playlist in a
// real Badger store in the ways msync.CheckChunks let through, and
// checks the load is ErrCorrupt, not a shorter history: the record cut
// exactly at a chunk boundary (what remains is valid automerge; its
// frame's length and checksum catch it), and, in a record as written
// before the frame (bare chunks), a compressed (deflate) chunk with a
// byte of its deflated body changed (automerge's checksum covers the
// inflated chunk, which was not checked; automerge dropped the chunk
// and the ones after it without an error). The same bare chunks intact
// load whole.
func TestDamagedChunkCorrupt(t *testing.T) {
	ctx := context.Background()
	// bare returns the chunks of the framed record v, the last one
	// compressed.
	bare := func(t *testing.T, k, v []byte) []byte {
		inc, err := openRecord(k, v)
		if err != nil {
			t.Fatal(err)
		}
		spans := chunkSpans(t, inc)
		last := spans[len(spans)-1]
		return append(bytes.Clone(inc[:last[0]]), compressChunk(t, inc[last[0]:last[1]])...)
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, k, v []byte) []byte
		intact bool // the change keeps the history: it loads whole
	}{
		{"cut at the last chunk boundary", func(t *testing.T, k, v []byte) []byte {
			inc, err := openRecord(k, v)
			if err != nil {
				t.Fatal(err)
			}
			spans := chunkSpans(t, inc)
			if len(spans) < 2 || len(inc) == len(v) {
				t.Fatalf("%d chunks in a record of %d bytes, %d of chunks: want 2 or more, framed", len(spans), len(v), len(inc))
			}
			return v[:len(v)-len(inc)+spans[len(spans)-1][0]]
		}, false},
		{"cut at the frame", func(t *testing.T, k, v []byte) []byte {
			inc, err := openRecord(k, v)
			if err != nil {
				t.Fatal(err)
			}
			return v[:len(v)-len(inc)]
		}, false},
		{"bare, compressed chunk intact", bare, true},
		{"bare, compressed chunk byte flipped", func(t *testing.T, k, v []byte) []byte {
			out := bare(t, k, v)
			spans := chunkSpans(t, out)
			last := spans[len(spans)-1]
			out[(last[0]+last[1])/2] ^= 0x10
			return out
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			dev := openRepo(t, st, 5)
			h, err := dev.CreatePlaylist(ctx, "alice", "Mine")
			if err != nil {
				t.Fatal(err)
			}
			// One batch of two changes, the second big enough that
			// automerge compresses it.
			var many []model.TrackID
			for i := range 40 {
				many = append(many, model.TrackID(fmt.Sprintf("track-%03d", i)))
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error {
				if _, err := p.Add(docs.AtEnd(), "alice", "t1"); err != nil {
					return err
				}
				_, err := p.Add(docs.AtEnd(), "alice", many...)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			want := len(entries(t, h))
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			k, v := lastIncrement(t, st, h.ID())
			if err := st.Set(ctx, k, tc.damage(t, k, v)); err != nil {
				t.Fatal(err)
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			if st, err = badgerstore.Open(ctx, dir, badgerstore.DefaultOptions()); err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			strict := openRepo(t, st, 6)
			if tc.intact {
				g, err := strict.Get(ctx, h.ID())
				if err != nil {
					t.Fatal(err)
				}
				if n := len(entries(t, g)); n != want {
					t.Fatalf("%d of %d entries", n, want)
				}
				strict.Close()
				return
			}
			if g, err := strict.Get(ctx, h.ID()); !errors.Is(err, ErrCorrupt) {
				n := -1
				if err == nil {
					n = len(entries(t, g))
				}
				t.Fatalf("damaged increment: %v with %d of %d entries, want ErrCorrupt", err, n, want)
			}
			strict.Close()
		})
	}
}

// TestSwappedRecordsCorrupt swaps a record of one playlist with the same
// record of another in a real Badger store (a damaged index, a hand
// edit) and checks that neither loads: each is ErrCorrupt, not another
// document's contents or a mix of both (which loaded without an error,
// or failed as a document of the wrong type, and a device would have
// synced the other document's changes into it).
func TestSwappedRecordsCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		key  func(id docs.DocumentID) []byte
	}{
		{"first increment", func(id docs.DocumentID) []byte { return incKey(id, 1) }},
		{"snapshot", snapKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			dev := openRepo(t, st, 5)
			var ids []docs.DocumentID
			for _, name := range []string{"A", "B"} {
				h, err := dev.CreatePlaylist(ctx, "alice", name)
				if err != nil {
					t.Fatal(err)
				}
				for _, tr := range []model.TrackID{"t1", "t2"} {
					if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tr); return err }); err != nil {
						t.Fatal(err)
					}
				}
				ids = append(ids, h.ID())
			}
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			a, b := tc.key(ids[0]), tc.key(ids[1])
			if err := st.Update(ctx, func(tx store.Txn) error {
				va, err := tx.Get(a)
				if err != nil {
					return err
				}
				vb, err := tx.Get(b)
				if err != nil {
					return err
				}
				va, vb = bytes.Clone(va), bytes.Clone(vb)
				if err := tx.Set(a, vb); err != nil {
					return err
				}
				return tx.Set(b, va)
			}); err != nil {
				t.Fatal(err)
			}
			strict := openRepo(t, st, 6)
			defer strict.Close()
			for _, id := range ids {
				if h, err := strict.Get(ctx, id); !errors.Is(err, ErrCorrupt) {
					name := ""
					if err == nil {
						_ = h.ReadPlaylist(func(p *docs.Playlist) error { i, err := p.Info(); name = i.Name; return err })
					}
					t.Fatalf("%s with a record of the other: %v (name %q), want ErrCorrupt", id, err, name)
				}
			}
		})
	}
}
