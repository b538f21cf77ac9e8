package repo

import (
	"context"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/amchunk"
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

// TestUnsentHeadIsAskedFor: the relay (Go sync states) sends its change
// R to a device (automerge's sync state), which edits before it answers.
// The device's change X is a false positive of the Bloom filter in the
// relay's message (found by trying X's value 0, 1, 2, … with a fixed
// actor and no timestamp), so automerge sends the device's heads
// without X. The relay, whose R is acknowledged only by X, must not wait
// for the device (which waits for it): its next message needs X, and
// the exchange brings both sides to the same heads.
func TestUnsentHeadIsAskedFor(t *testing.T) {
	ctx := context.Background()
	r := openRepo(t, store.NewMemory(), 6)
	h, err := r.CreatePlaylist(ctx, "alice", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	dev := automerge.New()
	t.Cleanup(dev.Close)
	if err := dev.SetActorID("dd"); err != nil {
		t.Fatal(err)
	}
	ss := automerge.NewSyncState(dev)
	t.Cleanup(ss.Close)
	toRelay := func(sm *automerge.SyncMessage) {
		t.Helper()
		if err := r.ReceiveSyncMessage(ctx, "dev", id, sm.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	toDev := func(m []byte) {
		t.Helper()
		if _, err := ss.ReceiveMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	exchange := func() {
		t.Helper()
		for range 20 {
			said := false
			if sm, ok := ss.GenerateMessage(); ok {
				toRelay(sm)
				said = true
			}
			m, ok, err := r.GenerateSyncMessage(ctx, "dev", id)
			if err != nil {
				t.Fatal(err)
			}
			if ok {
				toDev(m)
				said = true
			}
			if !said {
				return
			}
		}
		t.Fatal("no quiet after 20 rounds")
	}
	exchange()

	if err := h.Change(ctx, func(d *automerge.Doc) error { return d.RootMap().Set("r", int64(1)) }); err != nil {
		t.Fatal(err)
	}
	mR, ok, err := r.GenerateSyncMessage(ctx, "dev", id)
	if err != nil || !ok {
		t.Fatalf("the relay's change: %v %v", ok, err)
	}
	toDev(mR)
	dm, err := msync.DecodeMessage(mR)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Changes) != 1 || len(dm.Have) != 1 {
		t.Fatalf("relay's message: %d changes, %d haves; want R and a filter", len(dm.Changes), len(dm.Have))
	}
	hX, err := amchunk.FalsePositive(dev, "x", dm.Have[0].Bloom.Contains, 100000)
	if err != nil {
		t.Fatal(err)
	}
	sm, ok := ss.GenerateMessage()
	if !ok || len(sm.Changes()) != 0 {
		t.Fatalf("the device's answer: %v, want its heads without X", ok)
	}
	toRelay(sm)
	ask, ok, err := r.GenerateSyncMessage(ctx, "dev", id)
	if err != nil || !ok {
		t.Fatalf("the relay did not ask for the device's head: %v %v", ok, err)
	}
	am, err := msync.DecodeMessage(ask)
	if err != nil {
		t.Fatal(err)
	}
	if len(am.Need) != 1 || am.Need[0] != hX {
		t.Fatalf("the relay needs %v, want X %v", am.Need, hX)
	}
	toDev(ask)
	exchange()
	var heads []automerge.ChangeHash
	if err := h.Read(func(d *automerge.Doc) error { heads = d.Heads(); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(heads) != 1 || heads[0] != hX || !slices.Equal(dev.Heads(), heads) {
		t.Fatalf("heads after the exchange: relay %v, device %v; want X %v", heads, dev.Heads(), hX)
	}
}
