package repo

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// slowStore is a store whose Update takes delay (an fsync) and can be
// made to fail; it counts the Updates it commits.
type slowStore struct {
	store.Store
	delay   time.Duration
	updates atomic.Int64
	fail    atomic.Bool
}

var errDiskFull = errors.New("test: disk full")

func (s *slowStore) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	if s.fail.Load() {
		return errDiskFull
	}
	time.Sleep(s.delay)
	s.updates.Add(1)
	return s.Store.Update(ctx, fn)
}

// TestGroupCommitBatchesConcurrentWrites: concurrent edits of many
// documents share store Updates (one fsync each) instead of one Update
// per edit, and every edit is in the store when its Change returns.
func TestGroupCommitBatchesConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory(), delay: 5 * time.Millisecond}
	r, err := Open(ctx, st, DefaultOptions().WithCompaction(1000, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const ndocs, edits = 32, 5
	hs := make([]*Handle, ndocs)
	for i := range hs {
		if hs[i], err = r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i)); err != nil {
			t.Fatal(err)
		}
	}
	before := st.updates.Load()
	var wg sync.WaitGroup
	errc := make(chan error, ndocs)
	for _, h := range hs {
		wg.Go(func() {
			for k := 1; k <= edits; k++ {
				if err := addTrack(ctx, h, fmt.Sprint("t", k)); err != nil {
					errc <- err
					return
				}
				// Acknowledged: the increment must be in the store now.
				if _, err := st.Store.Get(ctx, incKey(h.ID(), uint64(k))); err != nil {
					errc <- fmt.Errorf("doc %s edit %d acknowledged but not stored: %w", h.ID(), k, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	updates := st.updates.Load() - before
	if total := int64(ndocs * edits); updates > total/4 {
		t.Fatalf("%d edits took %d store updates, want ≤ %d (group commit)", total, updates, total/4)
	}
	t.Logf("%d edits in %d store updates (%d group commits)", ndocs*edits, updates, r.Batches())
}

// TestGroupCommitFailureRepairs: a write that fails is reported to its
// caller, and the document's next write is a full snapshot, so a reload
// has every change, the failed one included.
func TestGroupCommitFailureRepairs(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory()}
	r, err := Open(ctx, st, testOptions(60))
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.CreatePlaylist(ctx, "alice", "Fragile")
	if err != nil {
		t.Fatal(err)
	}
	add := func(tr model.TrackID) error {
		return h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", tr); return err })
	}
	st.fail.Store(true)
	if err := add("lost-then-saved"); !errors.Is(err, errDiskFull) {
		t.Fatalf("edit on a failing store: %v, want %v", err, errDiskFull)
	}
	st.fail.Store(false)
	if err := add("after"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Store.Get(ctx, incKey(h.ID(), 2)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("write after a failure stored as an increment (%v), want a full snapshot", err)
	}
	r.Close()
	h2, err := openRepo(t, st, 61).Get(ctx, h.ID())
	if err != nil {
		t.Fatal(err)
	}
	got := map[model.TrackID]bool{}
	for _, e := range entries(t, h2) {
		got[e.Track] = true
	}
	if !got["lost-then-saved"] || !got["after"] {
		t.Fatalf("after reload: %v, want both edits", got)
	}
}

// TestLoadedDocsBudget: past WithLoadedDocs the least recently used
// documents are unloaded, a handle held across its unloading keeps
// working (it reloads, and writes continue the increment sequence), and
// sync states survive through the store.
func TestLoadedDocsBudget(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	r, err := Open(ctx, st, testOptions(62).WithLoadedDocs(4))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	first, err := r.CreatePlaylist(ctx, "alice", "First")
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "a"); return err }); err != nil {
		t.Fatal(err)
	}
	ids := []docs.DocumentID{first.ID()}
	for i := range 20 {
		h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
		if n, _ := r.Loaded(); n > 4 {
			t.Fatalf("after %d documents: %d loaded, budget 4", i+2, n)
		}
	}
	if _, unloads := r.Loaded(); unloads < 17 {
		t.Fatalf("%d unloads, want ≥ 17", unloads)
	}
	first.mu.Lock()
	unloaded := first.doc == nil
	first.mu.Unlock()
	if !unloaded {
		t.Fatal("least recently used document still loaded")
	}
	// The held handle reloads and keeps its increment sequence.
	if err := first.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "b"); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, incKey(first.ID(), 2)); err != nil {
		t.Fatalf("second edit after reload: %v, want increment 2", err)
	}
	if h, _ := r.Get(ctx, first.ID()); h != first {
		t.Fatal("Get returned a second handle for a reloaded document")
	}
	// Every document still reads back, each reloading in turn.
	for _, id := range ids {
		h, err := r.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if h.Empty() {
			t.Fatalf("%s empty after reload", id)
		}
	}
	if got := entries(t, first); len(got) != 2 || got[0].Track != "a" || got[1].Track != "b" {
		t.Fatalf("entries after reloads: %v", got)
	}
	// A sync peer resumes from the persisted state after an unload.
	b := openRepo(t, store.NewMemory(), 63)
	syncUntilQuiet(t, r, b, "A", "B", first.ID())
	for _, id := range ids[1:] { // unload first again
		_ = entries(t, mustGet(t, r, id))
	}
	if err := first.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "c"); return err }); err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, r, b, "A", "B", first.ID())
	if got := entries(t, mustGet(t, b, first.ID())); len(got) != 3 {
		t.Fatalf("peer after sync across an unload: %d entries, want 3", len(got))
	}
}

func mustGet(t testing.TB, r *Repo, id docs.DocumentID) *Handle {
	t.Helper()
	h, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestReceiveWaitsOnlyForChanges: a sync message that adds changes
// returns only once they are durable; one that adds none (the first
// message of a new sync session: heads and a bloom filter) does not wait
// for its sync state to be written.
func TestReceiveWaitsOnlyForChanges(t *testing.T) {
	ctx := context.Background()
	const delay = 400 * time.Millisecond
	st := &slowStore{Store: store.NewMemory()}
	a, err := Open(ctx, st, testOptions(64))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b := openRepo(t, store.NewMemory(), 65)
	h, err := b.CreatePlaylist(ctx, "alice", "Remote")
	if err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, b, a, "B", "A", h.ID())
	st.delay = delay
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "x"); return err }); err != nil {
		t.Fatal(err)
	}
	m, ok, err := b.GenerateSyncMessage(ctx, "A", h.ID())
	if err != nil || !ok {
		t.Fatalf("generate: %v %v", ok, err)
	}
	t0 := time.Now()
	if err := a.ReceiveSyncMessage(ctx, "B", h.ID(), m); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < delay {
		t.Fatalf("message with a change acknowledged after %v, before its write (%v) was durable", d, delay)
	}
	// A new session of another peer: its first message carries no change.
	m, ok, err = b.GenerateSyncMessage(ctx, "A2", h.ID())
	if err != nil || !ok {
		t.Fatalf("generate: %v %v", ok, err)
	}
	t0 = time.Now()
	if err := a.ReceiveSyncMessage(ctx, "B2", h.ID(), m); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d >= delay {
		t.Fatalf("message without changes took %v: it waited for its sync state write", d)
	}
}

// TestCollectBudgetRunsCollector: with the runtime's own collector off,
// automerge work past WithCollectBudget runs collections (which queue the
// finalizers that free automerge's C memory); below it, none.
func TestCollectBudgetRunsCollector(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	ctx := context.Background()
	for _, tc := range []struct {
		budget int64
		want   bool
	}{{64 << 10, true}, {1 << 30, false}} {
		a, err := Open(ctx, store.NewMemory(), testOptions(66).WithCollectBudget(tc.budget))
		if err != nil {
			t.Fatal(err)
		}
		b := openRepo(t, store.NewMemory(), 67)
		h, err := a.CreatePlaylist(ctx, "alice", "Churn")
		if err != nil {
			t.Fatal(err)
		}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 200 {
			if err := h.Playlist(ctx, func(p *docs.Playlist) error {
				_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprint("t", i)))
				return err
			}); err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, a, b, "A", "B", h.ID())
		}
		deadline := time.Now().Add(5 * time.Second)
		for tc.want && a.Collections() == 0 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if got := a.Collections() > 0; got != tc.want {
			t.Fatalf("budget %d: %d collections, want some: %v", tc.budget, a.Collections(), tc.want)
		}
		if tc.want && after.NumGC == before.NumGC {
			t.Fatalf("budget %d: the runtime counted no collection", tc.budget)
		}
		a.Close()
	}
}

// changesMessage returns a sync message from src carrying every change
// of document id (after a handshake with a scratch repo), as a relay
// receives when a device first uploads a document.
func changesMessage(t *testing.T, src *Repo, id docs.DocumentID) []byte {
	t.Helper()
	ctx := context.Background()
	scratch := openRepo(t, store.NewMemory(), 99)
	m1, ok, err := src.GenerateSyncMessage(ctx, "up", id)
	if err != nil || !ok {
		t.Fatalf("first message: %v %v", ok, err)
	}
	if err := scratch.ReceiveSyncMessage(ctx, "dev", id, m1); err != nil {
		t.Fatal(err)
	}
	m2, ok, err := scratch.GenerateSyncMessage(ctx, "dev", id)
	if err != nil || !ok {
		t.Fatalf("answer: %v %v", ok, err)
	}
	if err := src.ReceiveSyncMessage(ctx, "up", id, m2); err != nil {
		t.Fatal(err)
	}
	m3, ok, err := src.GenerateSyncMessage(ctx, "up", id)
	if err != nil || !ok {
		t.Fatalf("changes: %v %v", ok, err)
	}
	return m3
}

// TestCreationCommitsAloneWithItsRecords: with the group commit busy
// with other documents' writes, a creation's records are stored in the
// same Update as the document, a refused creation stores nothing (no
// snapshot, increment or sync state) and fails no other write, and the
// document is left an empty placeholder that a later creation fills.
func TestCreationCommitsAloneWithItsRecords(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory(), delay: 3 * time.Millisecond}
	// Default options: testOptions' clock is not safe for concurrent edits.
	r, err := Open(ctx, st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := openRepo(t, store.NewMemory(), 6)
	created, err := src.CreatePlaylist(ctx, "alice", "Uploaded")
	if err != nil {
		t.Fatal(err)
	}
	id := created.ID()
	msg := changesMessage(t, src, id)

	busy := make([]*Handle, 8)
	for i := range busy {
		if busy[i], err = r.CreatePlaylist(ctx, "bob", fmt.Sprint("b", i)); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errc := make(chan error, len(busy))
	for _, h := range busy {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := h.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtEnd(), "bob", model.TrackID(fmt.Sprint("t", k)))
					return err
				}); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	errRefused := errors.New("test: creation refused")
	for range 5 {
		err := r.ReceiveSyncMessageWith(ctx, "dev", id, msg, Incoming{Create: func(tx store.Txn) error {
			if err := tx.Set([]byte("own/"+id.String()), []byte("alice")); err != nil {
				return err
			}
			return errRefused
		}})
		if !errors.Is(err, errRefused) {
			t.Fatalf("refused creation: %v", err)
		}
	}
	stored := 0
	for _, p := range [][]byte{docPrefix(id), []byte("own/")} {
		if err := st.Store.Iterate(ctx, p, false, func(k, _ []byte) error { stored++; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Store.Get(ctx, syncKey("dev", id)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused creation left a sync state: %v", err)
	}
	if stored != 0 {
		t.Fatalf("refused creation stored %d keys", stored)
	}
	if h := mustGet(t, r, id); !h.Empty() {
		t.Fatal("refused creation left changes in memory")
	}

	if err := r.ReceiveSyncMessageWith(ctx, "dev", id, msg, Incoming{Create: func(tx store.Txn) error {
		return tx.Set([]byte("own/"+id.String()), []byte("alice"))
	}}); err != nil {
		t.Fatalf("creation: %v", err)
	}
	close(stop)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("a concurrent write failed: %v", err)
	}
	if _, err := st.Store.Get(ctx, []byte("own/"+id.String())); err != nil {
		t.Fatalf("creation record: %v", err)
	}
	if _, err := st.Store.Get(ctx, incKey(id, 1)); err != nil {
		t.Fatalf("created document: %v", err)
	}
	if err := r.ReceiveSyncMessageWith(ctx, "dev2", id, msg, Incoming{Create: func(store.Txn) error { return nil }}); !errors.Is(err, ErrExists) {
		t.Fatalf("second creation: %v, want ErrExists", err)
	}
}

// TestSyncStateSeesUnwaitedWrites: a message that adds no change returns
// before its sync state is durable, yet SyncState (what InSync reads)
// called afterwards already reflects it.
func TestSyncStateSeesUnwaitedWrites(t *testing.T) {
	ctx := context.Background()
	st := &slowStore{Store: store.NewMemory(), delay: 50 * time.Millisecond}
	r, err := Open(ctx, st, testOptions(8))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	src := openRepo(t, store.NewMemory(), 9)
	h, err := src.CreatePlaylist(ctx, "alice", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	heads, ok, err := src.GenerateSyncMessage(ctx, "relay", h.ID())
	if err != nil || !ok {
		t.Fatalf("heads message: %v %v", ok, err)
	}
	if err := r.ReceiveSyncMessage(ctx, "dev", h.ID(), heads); err != nil {
		t.Fatal(err)
	}
	state, err := r.SyncState(ctx, "dev", h.ID())
	if err != nil {
		t.Fatal(err)
	}
	if state == nil {
		t.Fatal("SyncState missed the sync state of a message already received")
	}
}

// TestCommitStats: the group commit counts every write its Updates
// commit, the time the committer spends in them (at least the store's
// delay per Update) and the time writes wait queued: next to nothing for
// a lone writer, and at least one Update's delay for some of many
// writers queued behind each other's Updates.
func TestCommitStats(t *testing.T) {
	const delay = 20 * time.Millisecond
	for _, tc := range []struct {
		name             string
		writers, edits   int
		minWait, maxWait time.Duration // bounds on the summed wait
	}{
		{"lone writer", 1, 5, 0, delay},
		{"queued writers", 8, 3, delay, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := &slowStore{Store: store.NewMemory(), delay: delay}
			r, err := Open(ctx, st, DefaultOptions().WithCompaction(1000, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			hs := make([]*Handle, tc.writers)
			for i := range hs {
				if hs[i], err = r.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i)); err != nil {
					t.Fatal(err)
				}
			}
			before, updates := r.CommitStats(), st.updates.Load()
			var wg sync.WaitGroup
			errc := make(chan error, tc.writers)
			for _, h := range hs {
				wg.Go(func() {
					for k := range tc.edits {
						if err := addTrack(ctx, h, fmt.Sprint("t", k)); err != nil {
							errc <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			for err := range errc {
				t.Fatal(err)
			}
			after := r.CommitStats()
			updates = st.updates.Load() - updates
			if got, want := after.Writes-before.Writes, uint64(tc.writers*tc.edits); got != want {
				t.Errorf("writes counted: %d, want %d", got, want)
			}
			if busy, want := after.Busy-before.Busy, time.Duration(updates)*delay; busy < want {
				t.Errorf("busy %v for %d updates of %v each, want ≥ %v", busy, updates, delay, want)
			}
			if wait := after.Wait - before.Wait; wait < tc.minWait || wait > tc.maxWait {
				t.Errorf("summed wait %v, want %v … %v", wait, tc.minWait, tc.maxWait)
			}
		})
	}
}

// TestCommitLinger: under load (the previous batch held more than one
// write, this one's first write queued soon after it) a group commit
// waits for later writes to join it; a lone writer's write and one
// after the committer idled for the linger commit at once.
func TestCommitLinger(t *testing.T) {
	for _, tc := range []struct {
		name   string
		linger time.Duration
		// load: the batch before the measured write held two writes
		// (else one).
		load bool
		// idle: how long the committer idles before the measured write.
		idle time.Duration
		// joins: a write queued 50 ms after the measured one is
		// committed with it.
		joins bool
	}{
		{"under load, a later write joins", 2 * time.Second, true, 0, true},
		{"no linger", 0, true, 0, false},
		{"lone writer", 2 * time.Second, false, 0, false},
		{"after idling", 300 * time.Millisecond, true, 400 * time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, r, h := gatedPlaylist(t, DefaultOptions().WithCompaction(1000, 0).WithCommitLinger(tc.linger))
			nop := func() *write { return &write{h: h, fn: func(store.Txn) error { return nil }} }
			before := r.Batches()
			wait := func(ws ...*write) {
				t.Helper()
				for _, w := range ws {
					if err := w.wait(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			// The batch before: one write, or (two writes queued
			// while the committer is held in the commit of a first)
			// two.
			first := nop()
			if tc.load {
				st.close()
				r.enqueue(first)
				// Until the committer holds first in its commit.
				for len(r.queue) > 0 {
					time.Sleep(time.Millisecond)
				}
				time.Sleep(20 * time.Millisecond)
				second, third := nop(), nop()
				r.enqueue(second)
				r.enqueue(third)
				st.open()
				wait(first, second, third)
				if n := r.Batches() - before; n != 2 {
					t.Fatalf("set-up: %d batches, want 2 (one, then two writes)", n)
				}
			} else {
				r.enqueue(first)
				wait(first)
			}
			time.Sleep(tc.idle)
			batches := r.Batches()
			start := time.Now()
			measured := nop()
			r.enqueue(measured)
			time.Sleep(50 * time.Millisecond)
			later := nop()
			r.enqueue(later)
			wait(measured, later)
			elapsed := time.Since(start)
			joined := r.Batches()-batches == 1
			if joined != tc.joins {
				t.Errorf("the later write joined the measured one's commit: %v, want %v (%d batches)", joined, tc.joins, r.Batches()-batches)
			}
			if tc.joins && elapsed < tc.linger {
				t.Errorf("the lingering commit was answered after %v, before the linger (%v) ended", elapsed, tc.linger)
			}
			if !tc.joins && tc.linger > 0 && elapsed > tc.linger {
				t.Errorf("the writes were answered after %v: a commit lingered (%v)", elapsed, tc.linger)
			}
		})
	}
}
