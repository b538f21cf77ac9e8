package relaysync_test

import (
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// exchange syncs doc with the relay over c, in rounds of one message
// each way, and returns the error or unavailable message the relay
// answered (nil if none); it fails the test if the relay still answers
// after 8 rounds (a held change must not keep the two talking).
func exchange(t *testing.T, c *liveConn, id docs.DocumentID, ss *automerge.SyncState) *wire.Message {
	t.Helper()
	for range 8 {
		if m, ok := ss.GenerateMessage(); ok {
			if err := c.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: c.user, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
				t.Fatal(err)
			}
			m.Close()
		}
		m := c.next(t, 300*time.Millisecond)
		if m == nil {
			return nil
		}
		if m.Type == wire.TypeError || m.Type == wire.TypeDocUnavailable {
			return m
		}
		sm, err := ss.ReceiveMessage(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		sm.Close()
	}
	t.Fatal("the relay kept answering")
	return nil
}

// TestForgedActorThroughRelay: over real WebSockets to a relay on a
// Badger store, bob, collaborator on alice's playlist, sends a change
// under alice's actor id with her next sequence number before she sends
// hers (automerge changes carry no signature). The relay used to store
// it and then refuse alice's real change as a reused sequence number,
// so her device could no longer sync the playlist. It now holds bob's
// change back for alice — without an error, and without the two
// exchanging messages while it waits — and stores hers. When bob
// instead carries alice's real change (got over the LAN) with an edit
// of his on top, both wait until alice delivers hers, then bob's edit
// is stored on his next exchange.
func TestForgedActorThroughRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		carry  bool // bob merges alice's real change instead of forging one
		stored []string
	}{
		{"forged", false, []string{"t1", "real"}},
		{"carried", true, []string{"t1", "real", "his"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			id := randomID(t)
			alice := newPlaylistDoc(t, "alice", "bob")
			upload(t, url, id, alice)
			bobDoc, err := alice.Fork()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.carry {
				if err := bobDoc.SetActorID(alice.ActorID()); err != nil {
					t.Fatal(err)
				}
				addTrack(t, bobDoc, "bob", "forged")
			}
			addTrack(t, alice, "alice", "real")
			if tc.carry {
				if _, err := bobDoc.Merge(alice); err != nil {
					t.Fatal(err)
				}
				addTrack(t, bobDoc, "bob", "his")
			}
			bob := live(t, url, "bob")
			bss := automerge.NewSyncState(bobDoc)
			if m := exchange(t, bob, id, bss); m != nil {
				t.Fatalf("bob: relay answered %+v", m)
			}
			if tracks := relayTracks(t, repo, id); !slices.Equal(tracks, []string{"t1"}) {
				t.Fatalf("relay tracks %v after bob, want t1 alone", tracks)
			}
			ass := automerge.NewSyncState(alice)
			if m := exchange(t, live(t, url, "alice"), id, ass); m != nil {
				t.Fatalf("alice: relay answered %+v", m)
			}
			if tc.carry {
				// bob's session follows the document: the relay tells it
				// of alice's change, and bob's answer releases his.
				if m := exchange(t, bob, id, bss); m != nil {
					t.Fatalf("bob again: relay answered %+v", m)
				}
			}
			if tracks := relayTracks(t, repo, id); !slices.Equal(tracks, tc.stored) {
				t.Fatalf("relay tracks %v, want %v", tracks, tc.stored)
			}
		})
	}
}
