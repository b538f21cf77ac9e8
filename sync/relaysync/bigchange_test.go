package relaysync_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// TestOversizedChangeRefusedThroughRelay: over a real WebSocket, the
// owner sends a change that fits her frame but that the relay could not
// forward (over wire.MaxSyncChange: no message of the relay's could
// carry it with its heads and filter), in a new playlist or in one the
// relay holds. The relay refuses that playlist alone — an error naming
// the document and the limit — stores none of it, and the session goes
// on: another playlist sent next on the same connection is stored.
func TestOversizedChangeRefusedThroughRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		create bool
	}{
		{"new playlist", true},
		{"held playlist", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			conn := live(t, url, "alice")
			id, doc := playlist(t, false)
			ss := automerge.NewSyncState(doc)
			if !tc.create {
				if m := conn.exchange(t, id, ss); m != nil {
					t.Fatalf("upload: %+v", m)
				}
			}
			if err := doc.RootMap().Set("description", strings.Repeat("d", wire.MaxSyncChange)); err != nil {
				t.Fatal(err)
			}
			big, err := doc.Commit("big")
			if err != nil {
				t.Fatal(err)
			}
			m := conn.exchange(t, id, ss)
			if m == nil || m.Type != wire.TypeError || m.DocumentID != id.String() || !strings.Contains(m.Message, "change too large") {
				t.Fatalf("relay answered %+v, want an error naming the document and the change's size", m)
			}
			if has, err := repo.Has(t.Context(), id); err != nil || has != !tc.create {
				t.Fatalf("relay holds the playlist: %v, %v", has, err)
			}
			if !tc.create && slices.Contains(relayChanges(t, repo, id), big) {
				t.Fatal("the relay stored the big change")
			}

			other, err := docs.NewDocumentID(strings.NewReader("fedcba9876543210"))
			if err != nil {
				t.Fatal(err)
			}
			od := automerge.New()
			p, err := docs.CreatePlaylist(od, "alice", "next", docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Add(docs.AtEnd(), "alice", "n1"); err != nil {
				t.Fatal(err)
			}
			if m := conn.exchange(t, other, automerge.NewSyncState(od)); m != nil {
				t.Fatalf("the next playlist on the same connection: %+v", m)
			}
			if got := relayTracks(t, repo, other); !slices.Equal(got, []string{"n1"}) {
				t.Fatalf("relay tracks of the next playlist %v", got)
			}
		})
	}
}
