package core_test

import (
	"context"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/sync/docs"
)

// TestDamagedPlaylistReplica: a playlist whose stored bytes do not load
// no longer fails listing every playlist: the others are listed and the
// damaged bytes are set aside under docbad/ for the next sync to replace.
func TestDamagedPlaylistReplica(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		value []byte
	}{
		{"junk", []byte{0xff, 0x01, 0x02}},
		{"text", []byte("not automerge")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet())
			e, err := core.Open(ctx, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			d, err := e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			var ids []docs.DocumentID
			for _, name := range []string{"Kept", "Damaged"} {
				id, err := d.Playlists().Create(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if err := d.Close(); err != nil {
				t.Fatal(err)
			}
			snap := []byte("doc/" + ids[1].String() + "/snap")
			if err := e.Store().Set(ctx, snap, tc.value); err != nil {
				t.Fatal(err)
			}
			d, err = e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			list, err := d.Playlists().List(ctx)
			if err != nil {
				t.Fatalf("list with one replica damaged: %v", err)
			}
			if len(list) != 1 || list[0].ID != ids[0] {
				t.Fatalf("listed %v, want only %s", list, ids[0])
			}
			if v, err := e.Store().Get(ctx, []byte("docbad/"+ids[1].String()+"/snap")); err != nil || string(v) != string(tc.value) {
				t.Fatalf("damaged bytes not set aside: %q, %v", v, err)
			}
		})
	}
}
