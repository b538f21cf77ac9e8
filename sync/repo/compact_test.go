package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// settle waits until the background compactions of h's repo have
// returned and h's writes queued by then are committed or failed, and
// returns the last one's error. No edit may run meanwhile.
func settle(h *Handle) error {
	h.repo.bgWG.Wait()
	h.mu.Lock()
	pending := h.pending
	h.mu.Unlock()
	return pending.wait(context.Background())
}

// bgStore is a store whose Update and Iterate can be made to fail, and
// that counts its uses once late is set.
type bgStore struct {
	store.Store
	failUpdate, failIterate atomic.Bool
	late                    atomic.Bool
	lateUses                atomic.Int64
}

func (s *bgStore) use() {
	if s.late.Load() {
		s.lateUses.Add(1)
	}
}

func (s *bgStore) Get(ctx context.Context, key []byte) ([]byte, error) {
	s.use()
	return s.Store.Get(ctx, key)
}

func (s *bgStore) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	s.use()
	if s.failIterate.Load() {
		return errDiskFull
	}
	return s.Store.Iterate(ctx, prefix, reverse, fn)
}

func (s *bgStore) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	s.use()
	if s.failUpdate.Load() {
		return errDiskFull
	}
	return s.Store.Update(ctx, fn)
}

// logBuffer collects a logger's output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// bgFixture is a repo on a Badger store (wrapped in a bgStore) whose
// document's increments pass the byte bound of compaction (4 KiB) every
// few edits, which runs the compaction in the background; the tests set
// hook.
type bgFixture struct {
	dir  string
	bst  store.Store
	st   *bgStore
	r    *Repo
	h    *Handle
	logs *logBuffer
	// edit makes one edit, acknowledged when it returns nil: the
	// relay's ReceiveSyncMessage of a change from alice's device, or a
	// device's local Change.
	edit func() error
	// want returns the heads the store must load to.
	want func() []automerge.ChangeHash
	// hook is the repo's bgHook, when set.
	hook func(ctx context.Context, built bool)
}

// bgCases are the two kinds of repos a fixture is made of.
var bgCases = []struct {
	name  string
	relay bool
}{{"relay", true}, {"device", false}}

func newBGFixture(t *testing.T, relay bool, seed byte) *bgFixture {
	t.Helper()
	ctx := context.Background()
	f := &bgFixture{dir: t.TempDir(), logs: &logBuffer{}}
	var err error
	if f.bst, err = badgerstore.Open(ctx, f.dir, badgerstore.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	f.st = &bgStore{Store: f.bst}
	opts := testOptions(seed).WithGoSync(false)
	if relay {
		opts = relayOptions(seed)
	}
	opts = opts.WithCompaction(1000, 4096).WithLogger(slog.New(slog.NewTextHandler(f.logs, nil)))
	if f.r, err = Open(ctx, f.st, opts); err != nil {
		t.Fatal(err)
	}
	f.r.bgHook = func(ctx context.Context, built bool) {
		if f.hook != nil {
			f.hook(ctx, built)
		}
	}
	t.Cleanup(func() {
		f.r.Close()
		if err := f.bst.Close(); err != nil {
			t.Error(err)
		}
	})
	n := 0
	track := func() model.TrackID { n++; return model.TrackID(fmt.Sprintf("track-%03d", n)) }
	if !relay {
		if f.h, err = f.r.CreatePlaylist(ctx, "alice", "Mix"); err != nil {
			t.Fatal(err)
		}
		f.edit = func() error { return addTrack(ctx, f.h, string(track())) }
		f.want = f.h.Heads
		return f
	}
	alice := openRepo(t, store.NewMemory(), seed+1)
	ha, err := alice.CreatePlaylist(ctx, "alice", "Mix")
	if err != nil {
		t.Fatal(err)
	}
	syncUntilQuiet(t, alice, f.r, "alice-dev", "relay", ha.ID())
	f.h = mustGet(t, f.r, ha.ID())
	f.edit = func() error {
		before := ha.Heads()
		if err := ha.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", track()); return err }); err != nil {
			return err
		}
		var heads [][32]byte
		for _, hd := range ha.Heads() {
			heads = append(heads, hd)
		}
		msg := wire.SyncMessage{Type: 0x42, Heads: heads, Changes: changesSince(t, ha, before)}
		return f.r.ReceiveSyncMessage(ctx, "alice-dev", ha.ID(), msg.Encode())
	}
	f.want = ha.Heads
	return f
}

// job returns the background compaction of the fixture's document, nil
// when none runs.
func (f *bgFixture) job() *bgCompaction {
	f.r.bgMu.Lock()
	defer f.r.bgMu.Unlock()
	return f.r.bgJobs[f.h]
}

// untilCompacting edits until a background compaction starts and
// returns it.
func (f *bgFixture) untilCompacting(t *testing.T) *bgCompaction {
	t.Helper()
	for range 200 {
		if err := f.edit(); err != nil {
			t.Fatal(err)
		}
		if c := f.job(); c != nil {
			return c
		}
	}
	t.Fatal("no background compaction after 200 edits")
	return nil
}

// gate makes the hook block every background compaction, before it
// reads the store or (built) once its snapshot is built, until release
// is called (at the latest when the test ends, before the repo
// closes); started receives once per compaction.
func (f *bgFixture) gate(t *testing.T, built bool) (started <-chan struct{}, release func()) {
	s, rel := make(chan struct{}, 16), make(chan struct{})
	f.hook = func(_ context.Context, b bool) {
		if b == built {
			s <- struct{}{}
			<-rel
		}
	}
	release = sync.OnceFunc(func() { close(rel) })
	t.Cleanup(release)
	return s, release
}

// stored returns the document's stored snapshot (its framed record's
// payload; nil if none) and the sequence numbers of its stored
// increments.
func (f *bgFixture) stored(t *testing.T) (snap []byte, seqs []uint64) {
	t.Helper()
	id := f.h.ID()
	ip := incPrefix(id)
	if err := f.bst.Iterate(context.Background(), docPrefix(id), false, func(k, v []byte) error {
		switch {
		case bytes.Equal(k, snapKey(id)):
			payload, err := openRecord(k, v)
			if err != nil {
				return err
			}
			snap = bytes.Clone(payload)
		case bytes.HasPrefix(k, ip):
			seq, err := store.Uint64(k[len(ip):])
			if err != nil {
				return err
			}
			seqs = append(seqs, seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return snap, seqs
}

// reopenHeads closes the fixture's repo and store, opens them again and
// checks that the document loads to want.
func (f *bgFixture) reopenHeads(t *testing.T, want []automerge.ChangeHash) {
	t.Helper()
	f.r.Close()
	if err := f.bst.Close(); err != nil {
		t.Fatal(err)
	}
	r, closeAll := reopenDir(t, f.dir, 77)
	defer closeAll()
	if got := mustGet(t, r, f.h.ID()).Heads(); !slices.Equal(got, want) {
		t.Fatalf("after reopen: heads %v, want %v", got, want)
	}
}

// TestCompactionOffEditPath: the compaction at a bound runs without the
// document's lock, after the edit that crossed it is acknowledged:
// while it is held back, edits are applied and acknowledged, bounds
// crossed start no second compaction, and the document's lock is free.
// Released, it stores the snapshot and deletes the increments it covers
// (every one below its sequence number) and none written meanwhile; the
// handle counts those alone; a restart loads the same heads.
func TestCompactionOffEditPath(t *testing.T) {
	for _, tc := range bgCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newBGFixture(t, tc.relay, 110)
			started, release := f.gate(t, false)
			c := f.untilCompacting(t)
			<-started
			_, covered := f.stored(t)
			if len(covered) == 0 || slices.ContainsFunc(covered, func(s uint64) bool { return s >= c.covered }) || covered[len(covered)-1] != c.covered-1 {
				t.Fatalf("stored increments %v when the compaction of those below %d reads them", covered, c.covered)
			}
			for range 3 {
				if err := f.edit(); err != nil {
					t.Fatalf("edit while compacting: %v", err)
				}
			}
			if got, want := f.h.Heads(), f.want(); !slices.Equal(got, want) {
				t.Fatalf("heads while compacting %v, want %v", got, want)
			}
			if f.job() != c || len(started) != 0 {
				t.Fatal("a bound crossed while compacting started another compaction")
			}
			_, during := f.stored(t)
			release()
			if err := settle(f.h); err != nil {
				t.Fatal(err)
			}
			snap, after := f.stored(t)
			if snap == nil {
				t.Fatal("no snapshot stored")
			}
			if want := during[len(covered):]; !slices.Equal(after, want) || len(want) != 3 {
				t.Fatalf("increments after the compaction %v, want those written meanwhile %v", after, want)
			}
			f.h.mu.Lock()
			count, snapBytes := f.h.incCount, f.h.snapBytes
			f.h.mu.Unlock()
			if count != 3 || int(snapBytes) != len(snap) {
				t.Fatalf("handle counts %d increments and a %d-byte snapshot, want 3 and %d", count, snapBytes, len(snap))
			}
			// The next bound crossing starts the next compaction.
			c2 := f.untilCompacting(t)
			<-started
			if c2 == c || c2.covered <= c.covered {
				t.Fatalf("next compaction covers below %d, the first below %d", c2.covered, c.covered)
			}
			f.reopenHeads(t, f.want())
		})
	}
}

// TestCompactionDiscarded: a background compaction is discarded when,
// while it runs, its document is deleted (no snapshot reappears),
// unloaded, compacted in place (Compact), or a write of it fails; the
// store then holds what those left, and a restart loads every change.
func TestCompactionDiscarded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range bgCases {
		for _, ev := range []struct {
			name string
			// during runs while the compaction is held back; it
			// reports whether the document is deleted.
			during func(t *testing.T, f *bgFixture) bool
		}{
			{"delete", func(t *testing.T, f *bgFixture) bool {
				if err := f.r.Delete(ctx, f.h.ID()); err != nil {
					t.Fatal(err)
				}
				return true
			}},
			{"unload", func(t *testing.T, f *bgFixture) bool {
				if !f.h.tryUnload(true) {
					t.Fatal("document did not unload")
				}
				return false
			}},
			{"compact in place", func(t *testing.T, f *bgFixture) bool {
				if err := f.h.Compact(ctx); err != nil {
					t.Fatal(err)
				}
				return false
			}},
			{"failed write", func(t *testing.T, f *bgFixture) bool {
				f.st.failUpdate.Store(true)
				if err := f.edit(); !errors.Is(err, errDiskFull) {
					t.Fatalf("edit on a failing store: %v, want %v", err, errDiskFull)
				}
				f.st.failUpdate.Store(false)
				return false
			}},
		} {
			t.Run(tc.name+"/"+ev.name, func(t *testing.T) {
				f := newBGFixture(t, tc.relay, 120)
				started, release := f.gate(t, true)
				f.untilCompacting(t)
				<-started
				deleted := ev.during(t, f)
				snap, seqs := f.stored(t)
				f.h.mu.Lock()
				count := f.h.incCount
				f.h.mu.Unlock()
				release()
				_ = settle(f.h) // the failed write's error
				f.h.mu.Lock()
				gotCount := f.h.incCount
				f.h.mu.Unlock()
				if gotCount != count {
					t.Fatalf("handle counts %d increments after a discarded compaction, want %d", gotCount, count)
				}
				gotSnap, gotSeqs := f.stored(t)
				if !bytes.Equal(gotSnap, snap) || !slices.Equal(gotSeqs, seqs) {
					t.Fatalf("store changed by a discarded compaction: snapshot %d → %d bytes, increments %v → %v", len(snap), len(gotSnap), seqs, gotSeqs)
				}
				if deleted {
					if snap != nil || len(seqs) != 0 {
						t.Fatalf("deleted document stored again: snapshot %d bytes, increments %v", len(snap), seqs)
					}
					return
				}
				if f.h.broken.Load() {
					// The next persist repairs it (in place).
					if err := f.edit(); err != nil {
						t.Fatal(err)
					}
				}
				f.reopenHeads(t, f.want())
			})
		}
	}
}

// TestCompactionFailureKeepsIncrements: a background compaction that
// fails (here its read of the store) logs at error level and changes
// nothing: the increments stay, stored and counted; the next bound
// crossing compacts them.
func TestCompactionFailureKeepsIncrements(t *testing.T) {
	for _, tc := range bgCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newBGFixture(t, tc.relay, 130)
			f.st.failIterate.Store(true)
			c := f.untilCompacting(t)
			f.r.bgWG.Wait()
			f.st.failIterate.Store(false)
			if logs := f.logs.String(); !strings.Contains(logs, "level=ERROR msg=\"repo: compact document in the background\"") {
				t.Fatalf("failed compaction not logged at error level; log:\n%s", logs)
			}
			snap, seqs := f.stored(t)
			if len(seqs) != int(c.count) || seqs[len(seqs)-1] != c.covered-1 {
				t.Fatalf("increments after a failed compaction %v, want the %d below %d", seqs, c.count, c.covered)
			}
			f.h.mu.Lock()
			count := f.h.incCount
			f.h.mu.Unlock()
			if count != c.count {
				t.Fatalf("handle counts %d increments after a failed compaction, want %d", count, c.count)
			}
			c2 := f.untilCompacting(t)
			if err := settle(f.h); err != nil {
				t.Fatal(err)
			}
			snap2, seqs2 := f.stored(t)
			if bytes.Equal(snap2, snap) || len(seqs2) != 0 || c2.covered <= c.covered {
				t.Fatalf("retry stored increments %v, snapshot changed %v; want none, changed", seqs2, !bytes.Equal(snap2, snap))
			}
			f.reopenHeads(t, f.want())
		})
	}
}

// TestCloseWaitsForCompaction: Close cancels a running background
// compaction and returns only once it has returned, so nothing touches
// the store after it; the canceled compaction stores nothing.
func TestCloseWaitsForCompaction(t *testing.T) {
	for _, tc := range bgCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newBGFixture(t, tc.relay, 140)
			var returned atomic.Bool
			started := make(chan struct{}, 1)
			f.hook = func(ctx context.Context, built bool) {
				if built {
					return
				}
				started <- struct{}{}
				<-ctx.Done()
				time.Sleep(20 * time.Millisecond)
				returned.Store(true)
			}
			f.untilCompacting(t)
			// Until the compaction runs (untilCompacting sees it
			// queued; on a loaded machine Close could cancel it before
			// it starts, and it would return without the hook).
			select {
			case <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("the background compaction did not start")
			}
			snap, seqs := f.stored(t)
			if err := f.r.Close(); err != nil {
				t.Fatal(err)
			}
			f.st.late.Store(true)
			if !returned.Load() {
				t.Fatal("Close returned before the background compaction")
			}
			if gotSnap, gotSeqs := f.stored(t); !bytes.Equal(gotSnap, snap) || !slices.Equal(gotSeqs, seqs) {
				t.Fatalf("canceled compaction changed the store: increments %v → %v", seqs, gotSeqs)
			}
			if n := f.st.lateUses.Load(); n != 0 {
				t.Fatalf("%d uses of the store after Close", n)
			}
			if logs := f.logs.String(); strings.Contains(logs, "level=ERROR") {
				t.Fatalf("canceled compaction logged an error:\n%s", logs)
			}
			f.reopenHeads(t, f.want())
		})
	}
}

// TestCompactionInterleavings: concurrent edits, compactions in place
// and unloads of one document, with background compactions at every
// bound crossing: the store always loads to the document's heads.
func TestCompactionInterleavings(t *testing.T) {
	ctx := context.Background()
	f := newBGFixture(t, false, 150)
	var built atomic.Int32
	f.hook = func(_ context.Context, b bool) {
		if b {
			built.Add(1)
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	for w := range 4 {
		wg.Go(func() {
			for i := range 60 {
				if err := addTrack(ctx, f.h, fmt.Sprintf("w%d-%d", w, i)); err != nil {
					errc <- err
					return
				}
				switch {
				case w == 0 && i%20 == 19:
					if err := f.h.Compact(ctx); err != nil {
						errc <- err
						return
					}
				case w == 1 && i%7 == 6:
					f.h.tryUnload(true)
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if err := settle(f.h); err != nil {
		t.Fatal(err)
	}
	if got := len(entries(t, f.h)); got != 240 {
		t.Fatalf("%d entries, want 240", got)
	}
	if built.Load() == 0 {
		t.Fatal("no compaction ran in the background")
	}
	f.reopenHeads(t, f.want())
}
