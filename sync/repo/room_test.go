package repo

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// gatedStore holds every Update until its gate opens.
type gatedStore struct {
	store.Store
	mu   sync.Mutex
	gate chan struct{} // nil: open
}

func (s *gatedStore) close() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *gatedStore) open() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

// gatedPlaylist opens a repo with opts on a gatedStore (open) and
// creates a playlist in it; the repo closes when t ends.
func gatedPlaylist(t *testing.T, opts Options) (*gatedStore, *Repo, *Handle) {
	t.Helper()
	st := &gatedStore{Store: store.NewMemory()}
	r, err := Open(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	h, err := r.CreatePlaylist(context.Background(), "alice", "p")
	if err != nil {
		t.Fatal(err)
	}
	return st, r, h
}

func (s *gatedStore) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	s.mu.Lock()
	g := s.gate
	s.mu.Unlock()
	if g != nil {
		<-g
	}
	return s.Store.Update(ctx, fn)
}

// TestLoadsWaitForRoom: while every loaded document has a write queued
// (the group commit is stuck), a load past twice WithLoadedDocs
// (pinnedShare) waits instead of loading one more document, and proceeds
// once the writes commit; the number of loaded documents never passes
// the bound. At 4 × the budget a 100,000-document follow burst peaked
// over 1 GiB RSS at the relay's defaults (docs/BENCHMARKS.md, burst10).
func TestLoadsWaitForRoom(t *testing.T) {
	for _, tc := range []struct {
		budget, bound int
	}{
		{budget: 1, bound: 2},
		{budget: 3, bound: 6},
	} {
		t.Run(fmt.Sprint("budget ", tc.budget), func(t *testing.T) {
			loadsWaitForRoom(t, tc.budget, tc.bound)
		})
	}
}

// loadsWaitForRoom runs TestLoadsWaitForRoom with the count budget
// budget, whose loads must wait once bound documents are loaded.
func loadsWaitForRoom(t *testing.T, budget, bound int) {
	ctx := context.Background()
	st := &gatedStore{Store: store.NewMemory()}
	r, err := Open(ctx, st, testOptions(1).WithLoadedDocs(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ids := make([]docs.DocumentID, bound+1)
	for i := range ids {
		h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = h.ID()
	}
	// Unload everything but the last documents touched.
	for _, id := range ids {
		h, _ := r.Get(ctx, id)
		h.mu.Lock()
		r.touch(h)
		h.mu.Unlock()
	}
	st.close()
	defer st.open() // before r.Close, which commits what is queued
	errc := make(chan error, bound+1)
	change := func(id docs.DocumentID) {
		h, err := r.Get(ctx, id)
		if err == nil {
			err = h.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("renamed") })
		}
		errc <- err
	}
	for _, id := range ids[:bound] {
		go change(id)
	}
	waitFor(t, "the first documents loaded with their writes pending", func() bool {
		n, _ := r.Loaded()
		return n == bound && pendingWrites(r) == bound
	})
	go change(ids[bound])
	waitFor(t, "the last load waiting for room", func() bool { return r.LoadWaits() > 0 })
	if n, _ := r.Loaded(); n > bound {
		t.Fatalf("%d documents loaded, bound %d", n, bound)
	}
	st.open()
	for range bound + 1 {
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("changes did not finish after the writes committed")
		}
	}
	if n, _ := r.Loaded(); n > bound {
		t.Fatalf("%d documents loaded at the end, bound %d", n, bound)
	}
}

// pendingWrites counts the loaded documents with a write not yet
// committed.
func pendingWrites(r *Repo) int {
	r.lruMu.Lock()
	var hs []*Handle
	for el := r.lru.Front(); el != nil; el = el.Next() {
		hs = append(hs, el.Value.(*Handle))
	}
	r.lruMu.Unlock()
	n := 0
	for _, h := range hs {
		if !h.mu.TryLock() {
			n++ // blocked queueing its write, lock held
			continue
		}
		if h.pending != nil && !h.pending.finished() {
			n++
		}
		h.mu.Unlock()
	}
	return n
}

// waitFor polls cond until it holds, failing after 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestUnloadDropsQuietMarks: an unloaded document keeps no per-peer
// quiet marks (at 100,000 followed documents, emptied but allocated maps
// held 31 MB of a relay's heap).
func TestUnloadDropsQuietMarks(t *testing.T) {
	ctx := context.Background()
	a, b := openRepo(t, store.NewMemory(), 1), openRepo(t, store.NewMemory(), 2)
	h, err := a.CreatePlaylist(ctx, "alice", "p")
	if err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, a, b, "a", "b", h.ID())
	h.mu.Lock()
	marks := len(h.quiet)
	h.mu.Unlock()
	if marks == 0 {
		t.Fatal("no quiet mark after a finished exchange")
	}
	waitFor(t, "the idle document unloaded (its writes committed)", func() bool { return h.tryUnload(true) })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.quiet != nil {
		t.Fatalf("unloaded document keeps its quiet marks map (%d entries)", len(h.quiet))
	}
}

// TestStateWritesDoNotPin: a document whose only queued write is of sync
// states unloads without waiting for the group commit (a follow burst's
// first syncs each write one, and waiting paced the burst by the
// commit), while a queued write of its content — alone or followed by a
// state write — keeps it loaded; the state write still commits and is
// read back after the unload.
func TestStateWritesDoNotPin(t *testing.T) {
	for _, tc := range []struct {
		name           string
		content, state bool
		wantUnloadable bool
	}{
		{name: "state write", state: true, wantUnloadable: true},
		{name: "content write", content: true},
		{name: "content then state write", content: true, state: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, r, h := gatedPlaylist(t, testOptions(1))
			st.close()
			defer st.open() // before r.Close, which commits what is queued
			errc := make(chan error, 1)
			if tc.content {
				go func() { errc <- h.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("renamed") }) }()
				waitFor(t, "the content write queued", func() bool { return pendingWrites(r) == 1 })
			}
			h.mu.Lock()
			if tc.state {
				h.keepState("P", []byte("state"))
				h.flushStates()
			}
			got := h.unloadable(true)
			if got {
				h.unload()
			}
			h.mu.Unlock()
			if got != tc.wantUnloadable {
				t.Fatalf("unloadable = %v, want %v", got, tc.wantUnloadable)
			}
			st.open()
			if tc.content {
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
			}
			if tc.state {
				b, err := r.SyncState(ctx, "P", h.ID())
				if err != nil || string(b) != "state" {
					t.Fatalf("stored sync state %q, %v; want \"state\"", b, err)
				}
			}
			// The handle keeps its last write, committed: without its bytes.
			h.mu.Lock()
			kept := h.pending != nil && h.pending.finished() && h.pending.fn != nil
			h.mu.Unlock()
			if kept {
				t.Fatal("a committed write kept by the handle still holds its bytes")
			}
		})
	}
}
