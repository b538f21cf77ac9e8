package core_test

import (
	"context"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// forgeUnder has d's repository take a change to playlist id made under
// actor (another device's), adding track: a hostile device's copy. The
// change gets actor's next sequence number in d's copy.
func forgeUnder(t *testing.T, d *core.Docs, id docs.DocumentID, actor string, track model.TrackID) {
	t.Helper()
	ctx := context.Background()
	h, err := d.Repo().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	var fork *automerge.Doc
	if err := h.Read(func(doc *automerge.Doc) error {
		var err error
		fork, err = doc.Fork()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer fork.Close()
	if err := fork.SetActorID(actor); err != nil {
		t.Fatal(err)
	}
	p, err := docs.OpenPlaylist(fork, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Add(docs.AtEnd(), "alice", track); err != nil {
		t.Fatal(err)
	}
	ss := automerge.NewSyncState(fork)
	defer ss.Close()
	for range 20 {
		m, ok := ss.GenerateMessage()
		if ok {
			err := d.Repo().ReceiveSyncMessage(ctx, "forger", id, m.Bytes())
			m.Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		out, rok, err := d.Repo().GenerateSyncMessage(ctx, "forger", id)
		if err != nil {
			t.Fatal(err)
		}
		if rok {
			sm, err := ss.ReceiveMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			sm.Close()
		}
		if !ok && !rok {
			return
		}
	}
	t.Fatal("forged change did not settle")
}

// actorOf returns the actor id d's copy of id writes its edits under.
func actorOf(t *testing.T, d *core.Docs, id docs.DocumentID) string {
	t.Helper()
	h, err := d.Repo().Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var a string
	if err := h.Read(func(doc *automerge.Doc) error { a = doc.ActorID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestLANForgedActor: bob, a collaborator on alice's playlist, sends
// alice's phone over the LAN a change under the actor id of alice's
// laptop with the laptop's next sequence number (the phone got the
// laptop's earlier edit through the relay), while the laptop, offline,
// made that change for real. Before, the phone took the forgery and
// then refused the laptop's real edit (automerge's duplicate sequence
// number) — and, as the owner's device, handed the forgery to the
// relay, which then refused the laptop's edit too: the laptop could no
// longer sync the playlist. Now a LAN peer of another user is held
// back on an actor the device already holds changes of that no binding
// gives that user (as the relay holds a change under an actor bound to
// another user), and the laptop's edit arrives.
func TestLANForgedActor(t *testing.T) {
	ctx := t.Context()
	origin, _ := stoppableRelay(t)
	phoneE, _ := registeredEngine(t, origin, "alice", "phone")
	laptopE, _ := registeredEngine(t, origin, "alice", "laptop")
	bobE, _ := registeredEngine(t, origin, "bob", "bob")
	phone, laptop, bob := syncingDocs(t, phoneE, "alice"), syncingDocs(t, laptopE, "alice"), syncingDocs(t, bobE, "bob")
	id := sharedPlaylist(t, phone, "bob", bob)
	waitUntil(t, "the laptop gets the playlist", func() bool {
		_, err := laptop.Playlists().Get(ctx, id)
		return err == nil
	})
	if _, err := laptop.Playlists().Add(ctx, id, docs.AtEnd(), "t1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the laptop's edit reaches the phone and bob through the relay", func() bool {
		return slices.Equal(trackList(t, phone, id), []model.TrackID{"t1"}) &&
			slices.Equal(trackList(t, bob, id), []model.TrackID{"t1"})
	})

	// The laptop goes offline and edits: its next change exists when the
	// forgery comes.
	laptop.StopSync()
	if _, err := laptop.Playlists().Add(ctx, id, docs.AtEnd(), "t2"); err != nil {
		t.Fatal(err)
	}
	forgeUnder(t, bob, id, actorOf(t, laptop, id), "forged")
	lanLink(t, bob, phone)
	held := func(r *repo.Repo) bool { n, _ := r.Held(); return n > 0 }
	waitUntil(t, "the phone takes or holds bob's forgery", func() bool {
		return held(phone.Repo()) || slices.Contains(trackList(t, phone, id), "forged")
	})
	if err := laptop.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the laptop's offline edit reaches the phone", func() bool {
		return slices.Contains(trackList(t, phone, id), "t2")
	})
	if got := trackList(t, phone, id); !slices.Equal(got, []model.TrackID{"t1", "t2"}) {
		t.Fatalf("phone's entries = %v, want t1 t2 (no forgery)", got)
	}
}

// TestLANKnownActor: an editor's edit reaches alice's phone through the
// relay, the relay goes away, and the editor's next edit, under the same
// actor id, reaches the phone over the LAN. The actor binding holds back
// only changes under actors the LAN peer did not bring and that are not
// its device's: alice's laptop on bob's playlist (one user's devices
// trust each other, peer.RepoAdapter.Own), and bob on alice's playlist
// (his actor ids carry his device's prefix, repo.ActorPrefix, which his
// certificate names; before, his edit waited for the relay).
func TestLANKnownActor(t *testing.T) {
	for _, tc := range []struct {
		name   string
		owner  string // "alice" (phone) or "bob"
		editor string // "laptop" or "bob"
	}{
		{"own device on a collaborator's playlist", "bob", "laptop"},
		{"collaborator on the owner's playlist", "alice", "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			origin, stopRelay := stoppableRelay(t)
			phoneE, _ := registeredEngine(t, origin, "alice", "phone")
			laptopE, _ := registeredEngine(t, origin, "alice", "laptop")
			bobE, _ := registeredEngine(t, origin, "bob", "bob")
			phone, laptop, bob := syncingDocs(t, phoneE, "alice"), syncingDocs(t, laptopE, "alice"), syncingDocs(t, bobE, "bob")
			owner, other, followers := phone, model.UserID("bob"), []*core.Docs{bob}
			if tc.owner == "bob" {
				owner, other, followers = bob, "alice", []*core.Docs{phone, laptop}
			}
			editor := bob
			if tc.editor == "laptop" {
				editor = laptop
			}
			id := sharedPlaylist(t, owner, other, followers...)
			waitUntil(t, "the editor gets the playlist", func() bool {
				_, err := editor.Playlists().Get(ctx, id)
				return err == nil
			})
			if _, err := editor.Playlists().Add(ctx, id, docs.AtEnd(), "t1"); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the editor's edit reaches the phone through the relay", func() bool {
				return slices.Equal(trackList(t, phone, id), []model.TrackID{"t1"})
			})
			startLAN(t, editor) // with the relay up: the LAN keys
			startLAN(t, phone)
			stopRelay()
			if _, err := editor.Playlists().Add(ctx, id, docs.AtEnd(), "t2"); err != nil {
				t.Fatal(err)
			}
			lanLink(t, editor, phone)
			waitUntil(t, "the editor's next edit reaches the phone over the LAN", func() bool {
				return slices.Equal(trackList(t, phone, id), []model.TrackID{"t1", "t2"})
			})
		})
	}
}
