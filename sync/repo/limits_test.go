package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// Small limits, so that histories many times the message limit stay
// small: 16 KiB messages, 8 KiB changes.
const (
	testMaxMessage = 16 << 10
	testMaxChange  = 8 << 10
)

// limitedRepo opens a repo with the small limits, with the Go sync
// states (the relay's) or automerge's (devices').
func limitedRepo(t *testing.T, seed byte, goSync bool) *Repo {
	t.Helper()
	r, err := Open(context.Background(), store.NewMemory(), testOptions(seed).WithGoSync(goSync).WithSyncLimits(testMaxMessage, testMaxChange))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// addBatches adds n batches of 50 entries (≈ 5 KiB a change, within
// testMaxChange) to playlist h and returns the tracks added.
func addBatches(t *testing.T, h *Handle, who string, n int) []model.TrackID {
	t.Helper()
	var all []model.TrackID
	for b := range n {
		tracks := make([]model.TrackID, 50)
		for i := range tracks {
			tracks[i] = model.TrackID(fmt.Sprintf("%s-%03d-%02d-%s", who, b, i, strings.Repeat("x", 32)))
		}
		if err := h.Playlist(context.Background(), func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), model.UserID(who), tracks...)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		all = append(all, tracks...)
	}
	return all
}

// historyBytes returns the size of every change h's document holds.
func historyBytes(t *testing.T, h *Handle) int {
	t.Helper()
	n := 0
	if err := h.Read(func(d *automerge.Doc) error {
		cs, err := d.Changes()
		for _, c := range cs {
			n += len(c.Save())
		}
		automerge.CloseChanges(cs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// boundedRounds runs the protocol between a and b for id over a lossless
// in-order channel until both are quiet, failing on a message over
// limit; it returns the rounds that carried messages and the largest
// message.
func boundedRounds(t *testing.T, a, b *Repo, pa, pb PeerID, id docs.DocumentID, limit int) (rounds, largest int) {
	t.Helper()
	ctx := context.Background()
	for ; rounds < 200; rounds++ {
		sent := false
		for _, dir := range []struct {
			from, to     *Repo
			fromID, toID PeerID
		}{{a, b, pa, pb}, {b, a, pb, pa}} {
			if _, err := dir.from.Ensure(ctx, id); err != nil {
				t.Fatal(err)
			}
			m, ok, err := dir.from.GenerateSyncMessage(ctx, dir.toID, id)
			if err != nil {
				t.Fatalf("round %d: generate: %v", rounds, err)
			}
			if !ok {
				continue
			}
			if len(m) > limit {
				t.Fatalf("round %d: a message of %d bytes from %s, limit %d", rounds, len(m), dir.fromID, limit)
			}
			largest = max(largest, len(m))
			sent = true
			if err := dir.to.ReceiveSyncMessage(ctx, dir.fromID, id, m); err != nil {
				t.Fatalf("round %d: receive from %s: %v", rounds, dir.fromID, err)
			}
		}
		if !sent {
			return rounds, largest
		}
	}
	t.Fatal("sync did not quiesce in 200 rounds")
	return
}

// TestBoundedMessagesConverge: a playlist whose history is many times the
// message limit reaches a fresh replica, and two replicas that both
// edited offline merge, with every message within the limit, for the
// relay's Go sync states and the devices' automerge ones (whose messages
// are cut to fit, wire.FitSync) in either role, in about history/limit
// round trips. Without the limit the first message would carry the
// whole history (the test fails on its size).
func TestBoundedMessagesConverge(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name           string
		aGo, bGo       bool
		aBatch, bBatch int
	}{
		{"relay to fresh device", true, false, 40, 0},
		{"device to fresh relay", false, true, 40, 0},
		{"device to fresh device", false, false, 40, 0},
		{"relay and device both edited", true, false, 24, 24},
		{"relay and relay both edited", true, true, 24, 24},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := limitedRepo(t, 1, tc.aGo), limitedRepo(t, 2, tc.bGo)
			ha, err := a.CreatePlaylist(ctx, "alice", "big")
			if err != nil {
				t.Fatal(err)
			}
			id := ha.ID()
			want := addBatches(t, ha, "alice", tc.aBatch)
			if tc.bBatch > 0 {
				boundedRounds(t, a, b, "a", "b", id, testMaxMessage)
				hb, err := b.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, addBatches(t, ha, "alice2", tc.aBatch)...)
				want = append(want, addBatches(t, hb, "bob", tc.bBatch)...)
				a.PeerDisconnected("b")
				b.PeerDisconnected("a")
			}
			history := historyBytes(t, ha)
			rounds, largest := boundedRounds(t, a, b, "a", "b", id, testMaxMessage)
			hb, err := b.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			ea, eb := entries(t, ha), entries(t, hb)
			if len(ea) != len(want) || !slices.Equal(ea, eb) || !slices.Equal(ha.Heads(), hb.Heads()) {
				t.Fatalf("no convergence: %d and %d entries, want %d", len(ea), len(eb), len(want))
			}
			// Each message but the last carries at least 12 KiB of
			// changes (a change ≈ 5 KiB, heads and filter little).
			bound := history/(12<<10) + 4
			if rounds > bound || largest < testMaxMessage/2 {
				t.Fatalf("%d bytes of history: %d rounds (want ≤ %d), largest message %d bytes", history, rounds, bound, largest)
			}
			t.Logf("%d bytes of history in %d rounds, largest message %d bytes", history, rounds, largest)
		})
	}
}

// bigChangeMessage returns a sync message from a raw automerge replica of
// the saved document (nil: a new playlist) that carries, besides what it
// holds, a change of about size bytes, and that change's hash.
func bigChangeMessage(t *testing.T, saved []byte, size int) ([]byte, automerge.ChangeHash) {
	t.Helper()
	d := automerge.New()
	if saved != nil {
		var err error
		if d, err = automerge.Load(saved); err != nil {
			t.Fatal(err)
		}
	} else if _, err := docs.CreatePlaylist(d, "alice", "big", docs.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if err := d.RootMap().Set("description", strings.Repeat("ab", size/2)); err != nil {
		t.Fatal(err)
	}
	hash, err := d.Commit("big")
	if err != nil {
		t.Fatal(err)
	}
	ss := automerge.NewSyncState(d)
	peer := automerge.NewSyncState(automerge.New())
	for range 4 {
		m, ok := ss.GenerateMessage()
		if !ok {
			break
		}
		if len(m.Changes()) > 0 {
			return m.Bytes(), hash
		}
		if _, err := peer.ReceiveMessage(m.Bytes()); err != nil {
			t.Fatal(err)
		}
		if a, ok := peer.GenerateMessage(); ok {
			if _, err := ss.ReceiveMessage(a.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("no message with changes")
	return nil, hash
}

// TestOversizedChangeRefused: a received change over the change limit
// (which no message of this repo could carry on) is refused for its
// document — ErrRejected wrapping ErrChangeTooLarge, nothing stored —
// while a change just within it is taken; for a document the repo holds
// (the rest of the refused message applied, as for any refusal) and for
// a creation (nothing left behind).
func TestOversizedChangeRefused(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		create  bool
		size    int
		refused bool
	}{
		{"held document, over", false, testMaxChange + 512, true},
		{"held document, within", false, testMaxChange - 1024, false},
		{"creation, over", true, testMaxChange + 512, true},
		{"creation, within", true, testMaxChange - 1024, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := limitedRepo(t, 1, true)
			var saved []byte
			var id docs.DocumentID
			if tc.create {
				id = docs.DocumentID{9}
			} else {
				h, err := relay.CreatePlaylist(ctx, "alice", "big")
				if err != nil {
					t.Fatal(err)
				}
				id = h.ID()
				if err := h.Read(func(d *automerge.Doc) error { saved = d.Save(); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			msg, hash := bigChangeMessage(t, saved, tc.size)
			in := Incoming{}
			if tc.create {
				in.Create = func(store.Txn) error { return nil }
			}
			err := relay.ReceiveSyncMessageWith(ctx, "dev", id, msg, in)
			h, gerr := relay.Ensure(ctx, id)
			if gerr != nil {
				t.Fatal(gerr)
			}
			has := false
			if err := h.Read(func(d *automerge.Doc) error { has = d.HasChange(hash); return nil }); err != nil {
				t.Fatal(err)
			}
			if !tc.refused {
				if err != nil || !has {
					t.Fatalf("a change within the limit: %v, stored %v", err, has)
				}
				return
			}
			if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrChangeTooLarge) || has {
				t.Fatalf("err = %v, stored %v; want ErrRejected wrapping ErrChangeTooLarge, nothing stored", err, has)
			}
			if tc.create {
				if !h.Empty() {
					t.Fatal("a refused creation left a document")
				}
				return
			}
			// The rest of the message was applied (receiveRefused): the
			// sender's heads, its refused change replaced by its
			// dependencies, are the relay's, and the sync state says so.
			state, err := relay.SyncState(ctx, "dev", id)
			if err != nil {
				t.Fatal(err)
			}
			shared, err := SharedHeads(state)
			if err != nil || !slices.Equal(shared, h.Heads()) {
				t.Fatalf("shared heads %v after the refusal, %v; want the relay's %v", shared, err, h.Heads())
			}
		})
	}
}

// TestLocalChangeTooLarge: a local edit whose change is over the change
// limit is undone — Change returns ErrChangeTooLarge, the document, its
// heads and its entries are as before, nothing is stored — and the
// document goes on: a small edit after it is stored and syncs, with the
// Go sync states and with automerge's (bound to the replaced document).
func TestLocalChangeTooLarge(t *testing.T) {
	ctx := context.Background()
	for _, goSync := range []bool{true, false} {
		t.Run(fmt.Sprintf("goSync=%v", goSync), func(t *testing.T) {
			st := store.NewMemory()
			opts := testOptions(1).WithGoSync(goSync).WithSyncLimits(testMaxMessage, testMaxChange)
			r, err := Open(ctx, st, opts)
			if err != nil {
				t.Fatal(err)
			}
			peer := limitedRepo(t, 2, true)
			h, err := r.CreatePlaylist(ctx, "alice", "mix")
			if err != nil {
				t.Fatal(err)
			}
			id := h.ID()
			addBatches(t, h, "alice", 1)
			// A sync state with the peer exists when the edit is undone.
			boundedRounds(t, r, peer, "r", "peer", id, testMaxMessage)
			before, es := h.Heads(), entries(t, h)
			err = h.Playlist(ctx, func(p *docs.Playlist) error {
				if err := p.Doc().RootMap().Set("description", strings.Repeat("d", testMaxChange)); err != nil {
					return err
				}
				_, err := p.Add(docs.AtEnd(), "alice", "after-describe")
				return err
			})
			if !errors.Is(err, ErrChangeTooLarge) {
				t.Fatalf("err = %v, want ErrChangeTooLarge", err)
			}
			if got := h.Heads(); !slices.Equal(got, before) || !slices.Equal(entries(t, h), es) {
				t.Fatalf("heads %v (were %v), %d entries (were %d)", got, before, len(entries(t, h)), len(es))
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error {
				_, err := p.Add(docs.AtEnd(), "alice", "small")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			boundedRounds(t, r, peer, "r", "peer", id, testMaxMessage)
			hp, err := peer.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := entries(t, hp); len(got) != len(es)+1 || got[len(got)-1].Track != "small" {
				t.Fatalf("peer has %d entries, want %d ending with the small edit", len(got), len(es)+1)
			}
			heads := h.Heads()
			r.Close()
			r2, err := Open(ctx, st, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer r2.Close()
			h2, err := r2.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(h2.Heads(), heads) || len(entries(t, h2)) != len(es)+1 {
				t.Fatalf("reopened: heads %v, want %v", h2.Heads(), heads)
			}
		})
	}
}

// TestSyncLimitsOption: WithSyncLimits keeps the defaults for values out
// of range and holds the change limit within the message limit.
func TestSyncLimitsOption(t *testing.T) {
	for _, tc := range []struct {
		name            string
		message, change int
		wantM, wantC    int
	}{
		{"defaults", 0, 0, wire.MaxSyncData, wire.MaxSyncChange},
		{"above", wire.MaxSyncData + 1, wire.MaxSyncChange + 1, wire.MaxSyncData, wire.MaxSyncChange},
		{"small", 4096, 1024, 4096, 1024},
		{"change capped", 4096, 0, 4096, 4096},
		{"negative", -1, -1, wire.MaxSyncData, wire.MaxSyncChange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions().WithSyncLimits(tc.message, tc.change)
			if o.maxMessage != tc.wantM || o.maxChange != tc.wantC {
				t.Fatalf("limits %d, %d; want %d, %d", o.maxMessage, o.maxChange, tc.wantM, tc.wantC)
			}
		})
	}
}

// TestHeldAskWithinLimit: while changes are held for a peer, the needs
// askMissing adds to the relay's messages (the held changes' missing
// dependencies) fit the message limit too: generation leaves them room
// (Handle.askReserve). bob, a collaborator with changes held back, syncs
// a playlist of 400 small changes from scratch at 2 KiB a message, the
// messages cut near the limit and carrying the ask; without the reserve
// one passes the limit.
func TestHeldAskWithinLimit(t *testing.T) {
	ctx := context.Background()
	const limit = 2 << 10
	r, err := Open(ctx, store.NewMemory(), testOptions(3).WithSyncLimits(limit, limit/2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	owner := sharedPlaylist(t)
	for i := range 400 {
		if err := owner.RootMap().Set("k", int64(i)); err != nil {
			t.Fatal(err)
		}
		if _, err := owner.Commit("k"); err != nil {
			t.Fatal(err)
		}
	}
	id, err := docs.NewDocumentID(r.rand)
	if err != nil {
		t.Fatal(err)
	}
	oss := automerge.NewSyncState(owner)
	for range 50 {
		m, ok := oss.GenerateMessage()
		if !ok {
			break
		}
		if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
			t.Fatal(err)
		}
		if out, ok, err := r.GenerateSyncMessage(ctx, "alice", id); err != nil {
			t.Fatal(err)
		} else if ok {
			if _, err := oss.ReceiveMessage(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := Incoming{Check: docs.CheckACLUntouched}
	if err := r.ReceiveSyncMessageWith(ctx, "bob", id, orphanMessage(t, owner, 6), check); err != nil {
		t.Fatal(err)
	}
	bob := automerge.New()
	bss := automerge.NewSyncState(bob)
	asked, near := 0, 0
	for range 200 {
		said := false
		if m, ok := bss.GenerateMessage(); ok {
			if err := r.ReceiveSyncMessageWith(ctx, "bob", id, m.Bytes(), check); err != nil {
				t.Fatal(err)
			}
			said = true
		}
		out, ok, err := r.GenerateSyncMessage(ctx, "bob", id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if len(out) > limit {
				t.Fatalf("a message of %d bytes with the ask, limit %d", len(out), limit)
			}
			if m, err := wire.ParseSync(out); err == nil && len(m.Need) > 0 {
				asked++
				// Cut to fit: the reserve (≈ 200 bytes here) and less
				// than a change below the limit.
				if len(out) > limit-320 {
					near++
				}
			}
			if _, err := bss.ReceiveMessage(out); err != nil {
				t.Fatal(err)
			}
			said = true
		}
		if !said {
			break
		}
	}
	if asked < 5 || near < 5 {
		t.Fatalf("%d messages asked for the held changes' dependency, %d of them cut near the limit: the test does not reach the reserve", asked, near)
	}
}
