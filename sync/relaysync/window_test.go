package relaysync_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestWindowThroughRelay: over real WebSockets, with pacing off so the
// window alone groups, alice sends five edits 100 ms apart and each is
// acknowledged at once, while bob, following the playlist and
// answering everything, receives them in at most two messages with a
// 2 s window (the first may leave at once, the rest wait for its
// window's end) and in five without one.
func TestWindowThroughRelay(t *testing.T) {
	const edits = 5
	for _, tc := range []struct {
		window  time.Duration
		maxMsgs int
		minMsgs int
	}{{0, edits, edits}, {2 * time.Second, 2, 1}} {
		t.Run(fmt.Sprint("window=", tc.window), func(t *testing.T) {
			url, _ := openRelay(t, relaysync.DefaultOptions().WithPace(0).WithWindow(tc.window))
			id := randomID(t)
			alice := newPlaylistDoc(t, "alice", "bob")
			upload(t, url, id, alice)

			bob := live(t, url, "bob")
			bobDoc := automerge.New()
			bss := automerge.NewSyncState(bobDoc)
			if m := bob.exchange(t, id, bss); m != nil || !slices.Equal(bobDoc.Heads(), alice.Heads()) {
				t.Fatalf("bob's first sync: %+v", m)
			}
			al := live(t, url, "alice")
			ass := automerge.NewSyncState(alice)
			if m := al.exchange(t, id, ass); m != nil {
				t.Fatalf("alice's sync: %+v", m)
			}

			for i := range edits {
				addTrack(t, alice, "alice", model.TrackID(fmt.Sprintf("a%d", i)))
				m, ok := ass.GenerateMessage()
				if !ok {
					t.Fatal("alice has no message for her edit")
				}
				if err := al.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: al.user, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
					t.Fatal(err)
				}
				// Acknowledged at once: well inside the window.
				ack := al.next(t, time.Second)
				if ack == nil || ack.Type != wire.TypeSync {
					t.Fatalf("edit %d: answer %+v within 1 s, want the relay's acknowledgement", i, ack)
				}
				if _, err := ass.ReceiveMessage(ack.Data); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}

			msgs, changes := 0, 0
			deadline := time.Now().Add(tc.window + 10*time.Second)
			for !slices.Equal(bobDoc.Heads(), alice.Heads()) && time.Now().Before(deadline) {
				m := bob.next(t, 500*time.Millisecond)
				if m == nil || m.Type != wire.TypeSync {
					continue
				}
				n, err := wire.SyncChangeCount(m.Data)
				if err != nil {
					t.Fatal(err)
				}
				if n > 0 {
					msgs++
					changes += n
				}
				if _, err := bss.ReceiveMessage(m.Data); err != nil {
					t.Fatal(err)
				}
				if reply, ok := bss.GenerateMessage(); ok {
					if err := bob.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: bob.user, TargetID: "relay", DocumentID: id.String(), Data: reply.Bytes()}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if !slices.Equal(bobDoc.Heads(), alice.Heads()) {
				t.Fatalf("bob lacks alice's edits after %d messages with %d changes", msgs, changes)
			}
			if changes != edits || msgs < tc.minMsgs || msgs > tc.maxMsgs {
				t.Fatalf("bob received %d changes in %d messages, want %d in %d…%d", changes, msgs, edits, tc.minMsgs, tc.maxMsgs)
			}
		})
	}
}
