package relaysync_test

import (
	"context"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// abortingMessage returns a sync message carrying amchunk.AbortingChange,
// which a scratch document applies at once (it depends on nothing).
func abortingMessage(t *testing.T) []byte {
	t.Helper()
	raw, err := amchunk.AbortingChange()
	if err != nil {
		t.Fatal(err)
	}
	return (&msync.Message{Raw: [][]byte{raw}}).Encode()
}

// TestCraftedChangeKeepsRelayUp: one sync message whose change automerge
// aborts on, sent by an authenticated user as the first message of a new
// document, as a reader of a public playlist, as a collaborator and as
// the owner. The relay used to read the first three into a scratch
// document (the creation check, the check of a reader's or a
// collaborator's changes), which aborted the relay process; every user
// could bring it down. It is refused and the relay keeps serving: the
// owner syncs her playlist afterwards, and no document is created.
func TestCraftedChangeKeepsRelayUp(t *testing.T) {
	url, repo := openRelay(t, relaysync.DefaultOptions())
	id := randomID(t)
	alice := newPlaylistDoc(t, "alice", "bob")
	p, err := docs.OpenPlaylist(alice, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	upload(t, url, id, alice)
	msg := abortingMessage(t)
	for _, tc := range []struct {
		name string
		user model.UserID
		doc  docs.DocumentID
	}{
		{"creation", "mallory", randomID(t)},
		{"reader", "mallory", id},
		{"collaborator", "bob", id},
		{"owner", "alice", id},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := dial(t, url, tc.user)
			sender := string(tc.user) + "-dev"
			if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: sender, TargetID: "relay", DocumentID: tc.doc.String(), Data: msg}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			for {
				m, err := conn.Recv(ctx)
				if err != nil {
					t.Fatalf("no answer from the relay: %v", err)
				}
				if m.Type == wire.TypeError {
					break
				}
			}
			if tc.doc != id {
				if has, err := repo.Has(t.Context(), tc.doc); err != nil || has {
					t.Fatalf("document created: %v %v", has, err)
				}
			}
			addTrack(t, alice, "alice", model.TrackID("after-"+tc.name))
			if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, alice, "alice-dev"); err != nil || m != nil {
				t.Fatalf("alice after the crafted message: %v %+v", err, m)
			}
			if tracks := relayTracks(t, repo, id); tracks[len(tracks)-1] != "after-"+tc.name {
				t.Fatalf("relay tracks %v", tracks)
			}
		})
	}
}
