package relaysync_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestSameStorageIDTwoUsers: alice and bob, both writers of alice's
// playlist, announce the same storage id. The relay keeps a sync state
// for each (none under the bare storage id), and bob's edit reaches
// alice: with one shared state the relay believed alice's replica held
// what bob's had sent, and never sent it to her.
func TestSameStorageIDTwoUsers(t *testing.T) {
	const storage = "shared-store"
	url, _, st := openRelayStore(t, relaysync.DefaultOptions())
	id := randomID(t)
	aliceDoc := newPlaylistDoc(t, "alice", "bob")
	upload(t, url, id, aliceDoc)

	alice := liveStorage(t, url, "alice", storage)
	ass := automerge.NewSyncState(aliceDoc)
	if m := alice.exchange(t, id, ass); m != nil {
		t.Fatalf("alice's sync: %+v", m)
	}
	bob := liveStorage(t, url, "bob", storage)
	bobDoc := automerge.New()
	bss := automerge.NewSyncState(bobDoc)
	if m := bob.exchange(t, id, bss); m != nil || !slices.Equal(bobDoc.Heads(), aliceDoc.Heads()) {
		t.Fatalf("bob's first sync: %+v", m)
	}
	addTrack(t, bobDoc, "bob", "b1")
	if m := bob.exchange(t, id, bss); m != nil {
		t.Fatalf("bob's edit: %+v", m)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(aliceDoc.Heads(), bobDoc.Heads()) {
		if time.Now().After(deadline) {
			t.Fatal("bob's edit never reached alice")
		}
		m := alice.next(t, 500*time.Millisecond)
		if m == nil || m.Type != wire.TypeSync {
			continue
		}
		if _, err := ass.ReceiveMessage(m.Data); err != nil {
			t.Fatal(err)
		}
		if reply, ok := ass.GenerateMessage(); ok {
			if err := alice.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: alice.user, TargetID: "relay", DocumentID: id.String(), Data: reply.Bytes()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Both sessions' states reach the store when they end.
	deadline = time.Now().Add(5 * time.Second)
	alice.C.CloseNow()
	bob.C.CloseNow()
	var peers []string
	suffix := []byte("/" + id.String())
	// alice's upload announced a storage id of its own: three states.
	for len(peers) < 3 && time.Now().Before(deadline) {
		peers = peers[:0]
		if err := st.Iterate(t.Context(), store.Prefix("sync"), false, func(k, _ []byte) error {
			if bytes.HasSuffix(k, suffix) {
				peers = append(peers, string(bytes.TrimSuffix(k[len("sync/"):], suffix)))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	scoped := 0
	for _, p := range peers {
		if p == storage {
			t.Fatalf("a sync state under the bare storage id %q", p)
		}
		if peer.UserScoped(p) {
			scoped++
		}
	}
	if scoped != 3 || len(peers) != 3 {
		t.Fatalf("sync states of %s under %q, want three scoped to a user: one per user of %q and alice's upload", id, peers, storage)
	}
}
