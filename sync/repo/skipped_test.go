package repo

import (
	"context"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/msync"
)

// TestSkippedDependencyIsAskedFor: device a has sent its change and
// waits; the relay's answer carries its latest change F but skips F's
// dependency D (a false positive of a's Bloom filter). a cannot apply F
// and, with automerge's rule alone, would say nothing more until it
// edits again; it asks for D instead (msync.AskForSkipped), and the
// next exchange brings both sides to the same heads.
func TestSkippedDependencyIsAskedFor(t *testing.T) {
	ctx := context.Background()
	a := openRepo(t, store.NewMemory(), 6)
	b := openRepo(t, store.NewMemory(), 7)
	h, err := a.CreatePlaylist(ctx, "alice", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	syncUntilQuiet(t, a, b, "a", "b", id)
	set := func(h *Handle, key string) {
		t.Helper()
		if err := h.Change(ctx, func(d *automerge.Doc) error { return d.RootMap().Set(key, int64(1)) }); err != nil {
			t.Fatal(err)
		}
	}
	set(h, "e")
	m, ok, err := a.GenerateSyncMessage(ctx, "b", id)
	if err != nil || !ok {
		t.Fatalf("a's change: %v %v", ok, err)
	}
	if err := b.ReceiveSyncMessage(ctx, "a", id, m); err != nil {
		t.Fatal(err)
	}
	hb, err := b.Ensure(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	set(hb, "d")
	set(hb, "f")
	var skipped *msync.Message
	if err := hb.Read(func(d *automerge.Doc) error {
		heads := d.Heads()
		c, err := d.Change(heads[0])
		if err != nil {
			return err
		}
		raw := c.Save()
		pc, err := msync.ParseChange(raw)
		if err != nil {
			return err
		}
		skipped = &msync.Message{Heads: heads, Changes: []msync.Change{pc}, Raw: [][]byte{raw}, Have: []msync.Have{{}}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := a.ReceiveSyncMessage(ctx, "b", id, skipped.Encode()); err != nil {
		t.Fatal(err)
	}
	ask, ok, err := a.GenerateSyncMessage(ctx, "b", id)
	if err != nil || !ok {
		t.Fatalf("a did not ask for the skipped dependency: %v %v", ok, err)
	}
	dm, err := msync.DecodeMessage(ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Need) != 1 || dm.Need[0] != skipped.Changes[0].Deps[0] {
		t.Fatalf("a needs %x, want F's dependency %x", dm.Need, skipped.Changes[0].Deps)
	}
	if err := b.ReceiveSyncMessage(ctx, "a", id, ask); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "a", "b", id)
	var ha, hbh []automerge.ChangeHash
	_ = h.Read(func(d *automerge.Doc) error { ha = d.Heads(); return nil })
	_ = hb.Read(func(d *automerge.Doc) error { hbh = d.Heads(); return nil })
	if len(ha) != 1 || len(hbh) != 1 || ha[0] != hbh[0] {
		t.Fatalf("heads differ after the exchange: a %x, b %x", ha, hbh)
	}
}
