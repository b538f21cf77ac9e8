package p2p_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/p2p"
)

// keysOf returns the LAN keys user shares with each of others.
func keysOf(user model.UserID, others ...model.UserID) []p2p.LANKey {
	var ks []p2p.LANKey
	for _, o := range others {
		ks = append(ks, p2p.LANKey{User: o, Key: pairKey(user, o)})
	}
	return ks
}

// peerUsers returns the users of d's running sessions.
func peerUsers(d *device) map[model.UserID]bool {
	out := map[model.UserID]bool{}
	for _, p := range d.node.Peers() {
		out[p.User] = true
	}
	return out
}

// TestSetLANKeys: a running node takes new LAN keys. The phone of
// alice syncs with her laptop and with bob; bob is removed (the phone's
// keys no longer name him): his session ends at once, the laptop's
// stays, and bob can no longer start one, either way. Carol, added,
// can start one from then on. Keys New would refuse are refused and
// change nothing. Before, a node kept the keys it started with for its
// life.
func TestSetLANKeys(t *testing.T) {
	ctx := t.Context()
	phone := newDevice(t, "alice", 1, withKeys("alice", "alice", "bob"))
	laptop := newDevice(t, "alice", 2, withKeys("alice", "alice"))
	bob := newDevice(t, "bob", 3, withKeys("bob", "bob", "alice"))
	carol := newDevice(t, "carol", 6, withKeys("carol", "carol", "alice"))
	if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatalf("laptop: %v", err)
	}
	if err := bob.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatalf("bob: %v", err)
	}
	if err := carol.node.Connect(ctx, addr(t, phone, "/tcp/")); err == nil {
		t.Fatal("carol synced with the phone before she was added")
	}
	eventually(t, "the phone syncs with the laptop and bob", func() bool {
		u := peerUsers(phone)
		return len(u) == 2 && u["alice"] && u["bob"]
	})

	for _, bad := range [][]p2p.LANKey{nil, {{User: "alice", Key: []byte{1}}}} {
		if _, err := phone.node.SetLANKeys(bad...); !errors.Is(err, p2p.ErrBadLANKey) {
			t.Fatalf("SetLANKeys(%v) = %v, want ErrBadLANKey", bad, err)
		}
	}
	if u := peerUsers(phone); len(u) != 2 {
		t.Fatalf("refused keys changed the sessions: %v", u)
	}

	ended, err := phone.node.SetLANKeys(keysOf("alice", "carol", "alice")...)
	if err != nil {
		t.Fatal(err)
	}
	if ended != 1 {
		t.Fatalf("SetLANKeys ended %d sessions, want 1 (bob's)", ended)
	}
	eventually(t, "bob's session ends on both sides", func() bool {
		u := peerUsers(phone)
		return len(u) == 1 && u["alice"] && len(bob.node.Peers()) == 0
	})
	if err := bob.node.Connect(ctx, addr(t, phone, "/tcp/")); err == nil {
		t.Fatal("bob, removed, dialled the phone")
	}
	if err := phone.node.Connect(ctx, addr(t, bob, "/tcp/")); err == nil {
		t.Fatal("the phone dialled bob, removed")
	}
	if err := carol.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatalf("carol, added: %v", err)
	}
	eventually(t, "the phone syncs with the laptop and carol", func() bool {
		u := peerUsers(phone)
		return len(u) == 2 && u["alice"] && u["carol"]
	})
}
