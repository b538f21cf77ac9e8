package repo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// openRelay opens a repo over st whose sync states without changes are
// written behind every flush.
func openRelay(t *testing.T, st store.Store, seed byte, flush time.Duration) *Repo {
	t.Helper()
	r, err := Open(context.Background(), st, testOptions(seed).WithSyncStateFlush(flush))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// storedShared returns the shared heads of the sync state with peer
// that st holds for id (nil when none is stored).
func storedShared(t *testing.T, st store.Store, peer PeerID, id docs.DocumentID) []string {
	t.Helper()
	raw, err := st.Get(context.Background(), syncKey(peer, id))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := msync.DecodeState(raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range s.SharedHeads {
		out = append(out, h.String())
	}
	return out
}

func headStrings(h *Handle) []string {
	var out []string
	for _, x := range h.Heads() {
		out = append(out, x.String())
	}
	return out
}

// TestSyncStateLostInCrashConverges: a follower's acknowledgements only
// advance the relay's sync state with it, which the relay writes behind.
// The relay "crashes" (a new repo over the same store, the old one never
// flushed) before the flush: the stored state is behind, the follower
// reconnects and both converge on every change, including one made
// after the crash.
func TestSyncStateLostInCrashConverges(t *testing.T) {
	ctx := context.Background()
	stA := store.NewMemory()
	a := openRelay(t, stA, 1, time.Hour)
	b, c := openRepo(t, store.NewMemory(), 2), openRepo(t, store.NewMemory(), 3)
	h, err := b.CreatePlaylist(ctx, "bob", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	add := func(track string) {
		t.Helper()
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "bob", model.TrackID(track))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	add("t1")
	syncUntilQuiet(t, b, a, "B", "A", id)
	batches := a.Batches()
	syncUntilQuiet(t, a, c, "A", "C", id)
	if got := a.Batches(); got != batches {
		t.Fatalf("the follower's messages without changes cost %d group commits, want 0 (written behind)", got-batches)
	}
	add("t2")
	syncUntilQuiet(t, b, a, "B", "A", id)
	syncUntilQuiet(t, a, c, "A", "C", id)
	ha, err := a.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if stored := storedShared(t, stA, "C", id); slices.Equal(stored, headStrings(ha)) {
		t.Fatal("the relay's state with the follower is already stored: nothing was written behind")
	}

	// The relay crashes: its successor reads what the store holds.
	a2 := openRelay(t, stA, 4, time.Hour)
	c.PeerDisconnected("A")
	b.PeerDisconnected("A")
	add("t3")
	syncUntilQuiet(t, b, a2, "B", "A", id)
	syncUntilQuiet(t, a2, c, "A", "C", id)
	hc, err := c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hc.Heads(), h.Heads()) {
		t.Fatal("the follower did not converge after the relay lost its sync state")
	}
	if es := entries(t, hc); len(es) != 3 {
		t.Fatalf("follower holds %d entries, want 3", len(es))
	}
	// Reading the state writes it first.
	raw, err := a2.SyncState(ctx, "C", id)
	if err != nil {
		t.Fatal(err)
	}
	s, err := msync.DecodeState(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.SharedHeads, h.Heads()) {
		t.Fatal("SyncState did not return the state kept behind")
	}
}

// TestSyncStateFlush: a state kept behind is written by the timer, by a
// disconnect of its peer and by Close; with no interval it is queued
// with its message. Once written, the handle keeps no map for it.
func TestSyncStateFlush(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		flush time.Duration
		write func(t *testing.T, a *Repo)
	}{
		{"timer", 10 * time.Millisecond, func(*testing.T, *Repo) {}},
		{"disconnect", time.Hour, func(_ *testing.T, a *Repo) { a.PeerDisconnected("C") }},
		{"close", time.Hour, func(t *testing.T, a *Repo) {
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		}},
		{"with its message", 0, func(*testing.T, *Repo) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stA := store.NewMemory()
			a := openRelay(t, stA, 1, tc.flush)
			b, c := openRepo(t, store.NewMemory(), 2), openRepo(t, store.NewMemory(), 3)
			h, err := b.CreatePlaylist(ctx, "bob", "Shared")
			if err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, b, a, "B", "A", h.ID())
			syncUntilQuiet(t, a, c, "A", "C", h.ID())
			tc.write(t, a)
			want := headStrings(h)
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				if slices.Equal(storedShared(t, stA, "C", h.ID()), want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("state with the follower not written after 10 s: %v, want %v", storedShared(t, stA, "C", h.ID()), want)
				}
			}
			// The handle keeps no emptied map of states written behind.
			a.mu.Lock()
			ah := a.handles[h.ID()]
			a.mu.Unlock()
			ah.mu.Lock()
			kept := ah.dirty
			ah.mu.Unlock()
			if kept != nil {
				t.Fatalf("handle keeps a map of %d states written behind after the write", len(kept))
			}
		})
	}
}
