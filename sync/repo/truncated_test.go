package repo

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// TestTruncatedIncrementCorrupt: an increment record cut short on disk
// (a bad disk, a hand edit) does not load. Automerge's LoadIncremental
// keeps the whole chunks before a cut and drops the rest without an
// error, so before, the document loaded without its last changes, which
// were never sent again. Each cut (one byte, inside the header of the
// last chunk, half the record) is ErrCorrupt, and a device sets the
// document aside (WithSetAside).
func TestTruncatedIncrementCorrupt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		cut  func(n int) int // the stored length kept of n bytes
	}{
		{"last byte", func(n int) int { return n - 1 }},
		{"ten bytes", func(n int) int { return n - 10 }},
		{"half", func(n int) int { return n / 2 }},
		{"chunk header only", func(int) int { return 9 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			dev := openRepo(t, st, 5)
			h, err := dev.CreatePlaylist(ctx, "alice", "Mine")
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range []model.TrackID{"t1", "t2", "t3"} {
				if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tr); return err }); err != nil {
					t.Fatal(err)
				}
			}
			if err := dev.Close(); err != nil {
				t.Fatal(err)
			}
			var last []byte
			if err := st.Iterate(ctx, incPrefix(h.ID()), false, func(k, _ []byte) error {
				last = bytes.Clone(k)
				return nil
			}); err != nil || last == nil {
				t.Fatalf("no increment stored: %v", err)
			}
			v, err := st.Get(ctx, last)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Set(ctx, last, v[:tc.cut(len(v))]); err != nil {
				t.Fatal(err)
			}
			strict := openRepo(t, st, 6)
			if _, err := strict.Get(ctx, h.ID()); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated increment (%d of %d bytes): %v, want ErrCorrupt", tc.cut(len(v)), len(v), err)
			}
			strict.Close()
			dev = openRepo(t, st, 7)
			defer dev.Close()
			dev.opts.setAside = true
			if _, err := dev.Get(ctx, h.ID()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("truncated increment on a device: %v, want ErrNotFound once set aside", err)
			}
		})
	}
}
