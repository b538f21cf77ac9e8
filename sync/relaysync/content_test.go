package relaysync_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// contentRelay serves a relay over the store in dir, with the content
// check (docs.CheckContent) when check; stop closes it all.
func contentRelay(t *testing.T, dir string, check bool) (url string, ra *peer.RepoAdapter, stop func()) {
	t.Helper()
	url, ra, _, stop = dirRelay(t, dir, func(store.Store) repo.Options {
		ro := repo.DefaultOptions().WithActorBinding(true)
		if check {
			ro = ro.WithContentCheck(docs.CheckContent)
		}
		return ro
	})
	return url, ra, stop
}

// TestContentCheckKeepsOldDocuments: a playlist stored before the
// content check (a 1,000-byte name, an entry whose track id holds a
// '/') still loads and syncs once the relay checks content: a
// collaborator's new device receives it as it is, and the owner's next
// valid edit is taken on top of it; only a new change past a limit is
// refused.
func TestContentCheckKeepsOldDocuments(t *testing.T) {
	dir := t.TempDir()
	url, _, stop := contentRelay(t, dir, false)
	id := randomID(t)
	alice := newPlaylistDoc(t, "alice", "bob")
	long := strings.Repeat("n", 1000)
	if err := alice.RootMap().Set("name", long); err != nil {
		t.Fatal(err)
	}
	e := automerge.NewMap()
	if err := alice.Path("entries").Map().Set("old", e); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"trackId": "a/b", "pos": "Zz", "addedBy": "alice"} {
		if err := alice.Path("entries", "old").Map().Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := alice.Commit("before the limits"); err != nil {
		t.Fatal(err)
	}
	upload(t, url, id, alice)
	stop()

	url, ra, _ := contentRelay(t, dir, true)
	bob := automerge.New()
	if m, err := syncUntilQuiet(t, dial(t, url, "bob"), id, bob, "bob-dev"); err != nil || m != nil {
		t.Fatalf("bob's new device: %v %+v", err, m)
	}
	if v, err := bob.Path("name").Get(); err != nil || v.Str() != long {
		t.Fatalf("bob's copy: name %v, %v", v, err)
	}
	addTrack(t, alice, "alice", "t2")
	upload(t, url, id, alice)
	if got := relayTracks(t, ra, id); !slices.Contains(got, "t2") || !slices.Contains(got, "a/b") {
		t.Fatalf("relay tracks %v, want the old a/b and the new t2", got)
	}
	if err := alice.RootMap().Set("name", long+"!"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Commit("past the limit"); err != nil {
		t.Fatal(err)
	}
	m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, alice, "alice-dev")
	if err != nil || m == nil || m.Type != wire.TypeError || !strings.Contains(m.Message, "bad content") {
		t.Fatalf("a new name past the limit: %v %+v, want an error saying bad content", err, m)
	}
}
