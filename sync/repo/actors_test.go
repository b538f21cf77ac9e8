package repo

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// device is a device's copy of a document syncing with a relay repo as
// one peer of one user.
type device struct {
	doc  *automerge.Doc
	ss   *automerge.SyncState
	peer PeerID
	in   Incoming
}

// newDevice returns a device for user over doc (its own copy); owner
// says the user owns the document (Incoming.Owner), else it writes as a
// collaborator (Incoming.CheckACL), as the relay's sessions do.
func newDevice(t *testing.T, doc *automerge.Doc, user model.UserID, owner bool) *device {
	t.Helper()
	t.Cleanup(doc.Close)
	return &device{doc: doc, ss: automerge.NewSyncState(doc), peer: PeerID(user + "-dev"),
		in: Incoming{Writer: user, Owner: owner, CheckACL: !owner}}
}

// sync exchanges messages between d and the relay until both are quiet
// and returns the relay's first receive error.
func (d *device) sync(t *testing.T, r *Repo, id docs.DocumentID) error {
	t.Helper()
	ctx := context.Background()
	for range 20 {
		m, ok := d.ss.GenerateMessage()
		if ok {
			err := r.ReceiveSyncMessageWith(ctx, d.peer, id, m.Bytes(), d.in)
			m.Close()
			if err != nil {
				return err
			}
		}
		out, rok, err := r.GenerateSyncMessage(ctx, d.peer, id)
		if err != nil {
			t.Fatal(err)
		}
		if rok {
			sm, err := d.ss.ReceiveMessage(out)
			if err != nil {
				t.Fatal(err)
			}
			sm.Close()
		}
		if !ok && !rok {
			return nil
		}
	}
	t.Fatal("sync did not settle")
	return nil
}

// commit adds a change to d's document setting key to value.
func (d *device) commit(t *testing.T, key, value string) automerge.ChangeHash {
	t.Helper()
	if err := d.doc.RootMap().Set(key, value); err != nil {
		t.Fatal(err)
	}
	h, err := d.doc.Commit(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// fork returns a copy of d's document, under actor when not empty.
func (d *device) fork(t *testing.T, actor string) *automerge.Doc {
	t.Helper()
	f, err := d.doc.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if actor != "" {
		if err := f.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// hasChange reports whether the relay's copy of id holds hash.
func hasChange(t *testing.T, r *Repo, id docs.DocumentID, hash automerge.ChangeHash) bool {
	t.Helper()
	h, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return slices.Contains(changeHashes(t, h), hash)
}

// sharedOnRelay opens a relay repo (binding as given) over st, and has
// alice create her playlist shared with bob on it; it returns the repo,
// the document id and alice's device.
func sharedOnRelay(t *testing.T, st store.Store, bind bool) (*Repo, docs.DocumentID, *device) {
	t.Helper()
	r, err := Open(context.Background(), st, testOptions(41).WithActorBinding(bind))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	id, err := docs.NewDocumentID(r.rand)
	if err != nil {
		t.Fatal(err)
	}
	alice := newDevice(t, sharedPlaylist(t), "alice", true)
	m, _ := alice.ss.GenerateMessage()
	in := alice.in
	in.Create = func(store.Txn) error { return nil }
	if err := r.ReceiveSyncMessageWith(context.Background(), alice.peer, id, m.Bytes(), in); err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := alice.sync(t, r, id); err != nil {
		t.Fatal(err)
	}
	return r, id, alice
}

// TestForgedActorHeldBack: bob, a collaborator, sends a change under
// alice's actor id with her next sequence number before alice sends
// hers. Without the binding the relay takes bob's and then refuses
// alice's real change (automerge's duplicate sequence number): her
// device could no longer sync the playlist. With it, bob's change waits
// for alice and hers is stored.
func TestForgedActorHeldBack(t *testing.T) {
	for _, tc := range []struct {
		bind         bool
		aliceRefused bool
	}{
		{bind: false, aliceRefused: true},
		{bind: true, aliceRefused: false},
	} {
		t.Run(map[bool]string{false: "unbound", true: "bound"}[tc.bind], func(t *testing.T) {
			r, id, alice := sharedOnRelay(t, store.NewMemory(), tc.bind)
			bob := newDevice(t, alice.fork(t, alice.doc.ActorID()), "bob", false)
			forged := bob.commit(t, "name", "bob's")
			real := alice.commit(t, "name", "alice's")
			if err := bob.sync(t, r, id); err != nil {
				t.Fatalf("bob: %v", err)
			}
			if got := hasChange(t, r, id, forged); got == tc.bind {
				t.Fatalf("relay holds the forged change: %v, want %v", got, !tc.bind)
			}
			err := alice.sync(t, r, id)
			if tc.aliceRefused {
				if !errors.Is(err, ErrBadMessage) {
					t.Fatalf("alice after a forgery, unbound: %v, want ErrBadMessage (the attack this binding stops)", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			if !hasChange(t, r, id, real) || hasChange(t, r, id, forged) {
				t.Fatal("relay does not hold alice's change alone")
			}
			if held, _ := r.Held(); held != 1 {
				t.Fatalf("%d changes held, want bob's forgery", held)
			}
			r.PeerDisconnected(bob.peer)
			if held, _ := r.Held(); held != 0 {
				t.Fatalf("%d changes held after bob left", held)
			}
		})
	}
}

// TestActorBindingSurvivesRestart: the bindings are stored with the
// document: after the relay restarts, bob's forgery under alice's actor
// still waits, and nothing of the document changes.
func TestActorBindingSurvivesRestart(t *testing.T) {
	st := store.NewMemory()
	r, id, alice := sharedOnRelay(t, st, true)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), st, testOptions(42).WithActorBinding(true))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	bob := newDevice(t, alice.fork(t, alice.doc.ActorID()), "bob", false)
	forged := bob.commit(t, "name", "bob's")
	if err := bob.sync(t, r, id); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if hasChange(t, r, id, forged) {
		t.Fatal("forged change applied after a restart")
	}
	alice.ss = automerge.NewSyncState(alice.doc)
	real := alice.commit(t, "name", "alice's")
	if err := alice.sync(t, r, id); err != nil || !hasChange(t, r, id, real) {
		t.Fatalf("alice: %v", err)
	}
}

// TestCarriedChangesWaitForAuthor: bob gets alice's change over the LAN
// and edits on top of it, then reaches the relay first. Alice's change
// waits for her (bob could have forged it), and bob's with it; once
// alice delivers hers, bob's next exchange stores his.
func TestCarriedChangesWaitForAuthor(t *testing.T) {
	r, id, alice := sharedOnRelay(t, store.NewMemory(), true)
	bob := newDevice(t, alice.fork(t, ""), "bob", false)
	hers := alice.commit(t, "name", "alice's")
	if _, err := bob.doc.Merge(alice.doc); err != nil {
		t.Fatal(err)
	}
	his := bob.commit(t, "name", "bob's")
	if err := bob.sync(t, r, id); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if hasChange(t, r, id, hers) || hasChange(t, r, id, his) {
		t.Fatal("the relay took alice's change from bob")
	}
	if err := alice.sync(t, r, id); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := bob.sync(t, r, id); err != nil {
		t.Fatalf("bob again: %v", err)
	}
	if !hasChange(t, r, id, hers) || !hasChange(t, r, id, his) {
		t.Fatal("the relay lacks alice's or bob's change")
	}
	if held, _ := r.Held(); held != 0 {
		t.Fatalf("%d changes still held", held)
	}
}

// TestOwnerTakesActor: a collaborator first delivered changes under an
// actor of the owner's (carried over the LAN from a device of hers the
// relay had not heard from); the owner's own changes under it are still
// taken, and from then on the actor is hers: the collaborator cannot
// forge its next change.
func TestOwnerTakesActor(t *testing.T) {
	r, id, alice := sharedOnRelay(t, store.NewMemory(), true)
	// alice's second device, with an actor of its own.
	phone := newDevice(t, alice.fork(t, "0a0b0c0d0e0f"), "alice", true)
	first := phone.commit(t, "name", "from the phone")
	bob := newDevice(t, alice.fork(t, ""), "bob", false)
	if _, err := bob.doc.Merge(phone.doc); err != nil {
		t.Fatal(err)
	}
	if err := bob.sync(t, r, id); err != nil || !hasChange(t, r, id, first) {
		t.Fatalf("bob carrying the phone's change: %v", err)
	}
	second := phone.commit(t, "name", "phone again")
	if err := phone.sync(t, r, id); err != nil || !hasChange(t, r, id, second) {
		t.Fatalf("the phone after bob bound its actor: %v", err)
	}
	forger := newDevice(t, phone.fork(t, "0a0b0c0d0e0f"), "bob", false)
	forger.peer = "bob-laptop"
	forged := forger.commit(t, "name", "forged")
	if err := forger.sync(t, r, id); err != nil || hasChange(t, r, id, forged) {
		t.Fatalf("bob forging the phone's next change: %v", err)
	}
}
