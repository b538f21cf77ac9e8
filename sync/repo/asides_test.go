package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// TestAsidesListed: a document set aside (WithSetAside) is listed by
// Asides with why, whether it had ever been synced with a peer (one never
// synced comes back from no relay: its changes are only in the records
// set aside) and, once the next sync received it again, Back. Before,
// only the log said a document had been set aside.
func TestAsidesListed(t *testing.T) {
	ctx := context.Background()
	relay := openRepo(t, store.NewMemory(), 4)
	defer relay.Close()
	st := store.NewMemory()
	dev := openRepo(t, st, 5)
	shared, err := relay.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Ensure(ctx, shared.ID()); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, relay, dev, "relay", "dev", shared.ID())
	local, err := dev.CreatePlaylist(ctx, "alice", "Only here")
	if err != nil {
		t.Fatal(err)
	}
	if err := dev.Close(); err != nil {
		t.Fatal(err)
	}
	for _, id := range []docs.DocumentID{shared.ID(), local.ID()} {
		if err := st.Set(ctx, snapKey(id), []byte("not automerge")); err != nil {
			t.Fatal(err)
		}
	}
	dev = openRepo(t, st, 6)
	defer func() { dev.Close() }()
	dev.opts.setAside = true
	if got, err := dev.Asides(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Asides before any load: %v, %v; want none", got, err)
	}
	for _, id := range []docs.DocumentID{shared.ID(), local.ID()} {
		if _, err := dev.Get(ctx, id); err == nil {
			t.Fatalf("damaged %s loaded", id)
		}
	}
	want := map[docs.DocumentID]bool{shared.ID(): true, local.ID(): false} // synced
	check := func(back docs.DocumentID) {
		t.Helper()
		got, err := dev.Asides(ctx)
		if err != nil || len(got) != len(want) {
			t.Fatalf("Asides: %+v, %v; want %d", got, err, len(want))
		}
		for _, a := range got {
			synced, ok := want[a.ID]
			if !ok || a.Synced != synced || a.Cause == "" || a.Keys == 0 || a.Back != (a.ID == back) {
				t.Errorf("aside %+v: want synced %v, a cause, its keys, back %v", a, synced, a.ID == back)
			}
		}
	}
	check(docs.DocumentID{})
	if _, err := dev.Ensure(ctx, shared.ID()); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, relay, dev, "relay", "dev", shared.ID())
	check(shared.ID())
	// DiscardAside deletes what was kept of one document, and only that:
	// the document received again still loads. Before it, a document set
	// aside was listed for good.
	if err := dev.DiscardAside(ctx, shared.ID()); err != nil {
		t.Fatal(err)
	}
	delete(want, shared.ID())
	check(docs.DocumentID{})
	if _, err := dev.Get(ctx, shared.ID()); err != nil {
		t.Fatalf("document received again, after its records set aside were discarded: %v", err)
	}
	if err := dev.DiscardAside(ctx, shared.ID()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second discard: %v, want ErrNotFound", err)
	}
	n := 0
	if err := st.Iterate(ctx, []byte(AsidePrefix+shared.ID().String()+"/"), false, func(_, _ []byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("%d records of the discarded document left (%v)", n, err)
	}
}
