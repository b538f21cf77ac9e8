package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/p2p"
)

// syncsWith reports whether n has a session with a device of user.
func syncsWith(n *p2p.Node, user model.UserID) bool {
	for _, p := range n.Peers() {
		if p.User == user {
			return true
		}
	}
	return false
}

// TestLANKeysWhileRunning: alice's phone shares a playlist with bob,
// and both sync over the LAN. With the phone's node running, alice
// makes carol the collaborator instead of bob: the phone ends bob's
// session and refuses his dials from then on, and once carol follows
// the playlist, carol's device and the phone sync, none of the nodes
// restarted. Before, a node kept the keys it started with: the phone
// went on syncing with bob, and carol's dials were refused until both
// restarted LAN sync.
func TestLANKeysWhileRunning(t *testing.T) {
	ctx := t.Context()
	origin, _ := stoppableRelay(t)
	phoneE, _ := registeredEngine(t, origin, "alice", "phone")
	bobE, _ := registeredEngine(t, origin, "bob", "bob")
	carolE, _ := registeredEngine(t, origin, "carol", "carol")
	phone, bob, carol := syncingDocs(t, phoneE, "alice"), syncingDocs(t, bobE, "bob"), syncingDocs(t, carolE, "carol")
	id := sharedPlaylist(t, phone, "bob", bob)
	waitUntil(t, "bob gets the playlist", func() bool { _, err := bob.Playlists().Get(ctx, id); return err == nil })
	pn, bn, cn := startLAN(t, phone), startLAN(t, bob), startLAN(t, carol)
	if err := bn.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := cn.Connect(ctx, pn.Addrs()[0]); err == nil {
		t.Fatal("carol synced with the phone before she was a collaborator")
	}

	if err := phone.Playlists().SetCollaborators(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the phone ends bob's session", func() bool { return !syncsWith(pn, "bob") })
	if err := bn.Connect(ctx, pn.Addrs()[0]); err == nil {
		t.Fatal("bob, removed, dialled the phone")
	}
	if err := phone.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := carol.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "carol gets the playlist", func() bool { _, err := carol.Playlists().Get(ctx, id); return err == nil })
	waitUntil(t, "carol's device and the phone sync", func() bool {
		if err := cn.Connect(ctx, pn.Addrs()[0]); err != nil && !errors.Is(err, p2p.ErrAlreadyConnected) {
			t.Logf("carol dialling the phone: %v", err)
			return false
		}
		return syncsWith(pn, "carol")
	})
}
