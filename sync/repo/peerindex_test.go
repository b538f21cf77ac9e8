package repo

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// TestPeerDisconnectedVisitsOnlyItsDocuments: a peer's disconnect drops
// its sync states and nothing else, and does not wait for the queued
// writes of documents it never synced (it used to visit, and wait for,
// every handle the repo knew).
func TestPeerDisconnectedVisitsOnlyItsDocuments(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{Store: store.NewMemory()}
	r, err := Open(ctx, st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer st.open() // before Close, which commits the stuck write
	hs := make([]*Handle, 3)
	for i := range hs {
		if hs[i], err = r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		peer PeerID
		doc  int
	}{{"A", 0}, {"B", 1}} {
		if _, _, err := r.GenerateSyncMessage(ctx, c.peer, hs[c.doc].ID()); err != nil {
			t.Fatal(err)
		}
	}

	// The third document's edit is stuck in the store's commit.
	st.close()
	edited := make(chan error, 1)
	go func() {
		edited <- hs[2].Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID("t1"))
			return err
		})
	}()
	queued := func() bool {
		hs[2].mu.Lock()
		defer hs[2].mu.Unlock()
		return hs[2].pending != nil && !hs[2].pending.finished()
	}
	for deadline := time.Now().Add(10 * time.Second); !queued(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the edit's write was never queued")
		}
	}

	done := make(chan struct{})
	go func() {
		r.PeerDisconnected("A")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("PeerDisconnected(A) waited for the write of a document A never synced")
	}
	st.open()
	if err := <-edited; err != nil {
		t.Fatal(err)
	}

	syncsWith := func(h *Handle, peer PeerID) bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, ok := h.syncs[peer]
		return ok
	}
	if syncsWith(hs[0], "A") {
		t.Error("A's sync state survived its disconnect")
	}
	if !syncsWith(hs[1], "B") {
		t.Error("B's sync state was dropped by A's disconnect")
	}
	r.peers.mu.Lock()
	_, a := r.peers.m["A"]
	_, b := r.peers.m["B"]
	r.peers.mu.Unlock()
	if a || !b {
		t.Errorf("peer index after A's disconnect: A listed %v (want false), B listed %v (want true)", a, b)
	}

	// A reconnects: its new state is listed again and dropped again.
	if _, _, err := r.GenerateSyncMessage(ctx, "A", hs[0].ID()); err != nil {
		t.Fatal(err)
	}
	r.PeerDisconnected("A")
	if syncsWith(hs[0], "A") {
		t.Error("A's second sync state survived its second disconnect")
	}
}

// BenchmarkPeerDisconnected: one peer that synced 10 documents
// disconnecting from a repo that knows 100,000 (the first session's
// sync states included).
func BenchmarkPeerDisconnected(b *testing.B) {
	ctx := context.Background()
	r, err := Open(ctx, store.NewMemory(), DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ids := make([]docs.DocumentID, 10)
	for i := range ids {
		h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i))
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = h.ID()
	}
	// The other documents as a relay knows them once unloaded: a Handle
	// with no document loaded.
	r.mu.Lock()
	for len(r.handles) < 100_000 {
		id, err := docs.NewDocumentID(r.rand)
		if err != nil {
			b.Fatal(err)
		}
		r.handles[id] = &Handle{repo: r, id: id}
	}
	r.mu.Unlock()
	b.ResetTimer()
	for range b.N {
		for _, id := range ids {
			if _, _, err := r.GenerateSyncMessage(ctx, "A", id); err != nil {
				b.Fatal(err)
			}
		}
		r.PeerDisconnected("A")
	}
}
