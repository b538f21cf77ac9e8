package core_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
)

// syncRelay starts a relay (no catalog needed) on 127.0.0.1 and returns
// its origin URL.
func syncRelay(t *testing.T) string {
	t.Helper()
	return tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false)).URL
}

// userDocs opens a registered engine of user and its documents.
func userDocs(t *testing.T, origin string, user model.UserID) *core.Docs {
	t.Helper()
	ctx := context.Background()
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(origin))
	tbed.Register(t, e, user, "device")
	d, err := e.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func trackList(t *testing.T, d *core.Docs, id docs.DocumentID) []model.TrackID {
	t.Helper()
	v, err := d.Playlists().Get(context.Background(), id)
	if err != nil {
		return nil
	}
	var out []model.TrackID
	for _, e := range v.Entries {
		out = append(out, e.Track)
	}
	return out
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCollaborativePlaylistOffline is the demo scenario: alice shares a
// playlist with bob through the relay, both go offline and edit, both
// reconnect, and both converge to the same entries in the same order.
func TestCollaborativePlaylistOffline(t *testing.T) {
	ctx := t.Context()
	origin := syncRelay(t)
	alice, bob := userDocs(t, origin, "alice"), userDocs(t, origin, "bob")

	id, err := alice.Playlists().Create(ctx, "Road trip")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Playlists().SetCollaborators(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Playlists().Add(ctx, id, docs.AtEnd(), "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Library().SaveTracks(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	events, cancel := bob.Subscribe()
	defer cancel()
	for _, d := range []*core.Docs{alice, bob} {
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob receives the playlist", func() bool { return len(trackList(t, bob, id)) == 2 })
	select {
	case e := <-events:
		if e.Doc.IsZero() {
			t.Fatal("zero event")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change event on bob's side")
	}

	alice.StopSync()
	bob.StopSync()
	if _, err := alice.Playlists().Add(ctx, id, docs.AtStart(), "a-offline"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.Playlists().Add(ctx, id, docs.AtEnd(), "b-offline"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Playlists().Rename(ctx, id, "Road trip 2"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*core.Docs{alice, bob} {
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := []model.TrackID{"a-offline", "t1", "t2", "b-offline"}
	waitUntil(t, "both converge", func() bool {
		return slices.Equal(trackList(t, alice, id), want) && slices.Equal(trackList(t, bob, id), want)
	})
	v, err := alice.Playlists().Get(ctx, id)
	if err != nil || v.Info.Name != "Road trip 2" {
		t.Fatalf("alice sees %+v, %v", v.Info, err)
	}
	// Bob never receives alice's library (libraries are per user).
	lib, err := bob.Library().Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(lib.Tracks) != 0 {
		t.Fatalf("bob's library has alice's tracks: %v", lib.Tracks)
	}
	st, err := alice.Status(ctx)
	if err != nil || !st.RelayOn || st.Documents < 2 {
		t.Fatalf("status %+v, %v", st, err)
	}
}

// TestCollaboratorACLChangeRefused: bob, collaborator on alice's
// playlist, adds an entry (it reaches alice), then removes every
// collaborator. The relay refuses that change; bob's SyncStatus names
// the document and the reason, alice's playlist keeps bob as its
// collaborator, and alice's later edits still reach bob.
func TestCollaboratorACLChangeRefused(t *testing.T) {
	ctx := t.Context()
	origin := syncRelay(t)
	alice, bob := userDocs(t, origin, "alice"), userDocs(t, origin, "bob")
	id, err := alice.Playlists().Create(ctx, "Shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Playlists().SetCollaborators(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Playlists().Add(ctx, id, docs.AtEnd(), "t1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*core.Docs{alice, bob} {
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob receives the playlist", func() bool { return len(trackList(t, bob, id)) == 1 })
	if _, err := bob.Playlists().Add(ctx, id, docs.AtEnd(), "b1"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob's entry reaches alice", func() bool { return slices.Contains(trackList(t, alice, id), "b1") })

	// The device refuses bob's ACL edits itself; a device that does not
	// (an older one, a foreign client) is refused by the relay.
	if err := bob.Playlists().SetCollaborators(ctx, id); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("bob's SetCollaborators = %v, want ErrNotOwner", err)
	}
	if err := bob.Playlists().SetPublic(ctx, id, true); !errors.Is(err, core.ErrNotOwner) {
		t.Fatalf("bob's SetPublic = %v, want ErrNotOwner", err)
	}
	h, err := bob.Repo().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators() }); err != nil {
		t.Fatal(err)
	}
	var reason string
	waitUntil(t, "bob's status shows the refusal", func() bool {
		st, err := bob.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range st.Relay.Refused {
			if r.Doc == id {
				reason = r.Reason
				return true
			}
		}
		return false
	})
	if !strings.Contains(reason, "which only the owner may change") {
		t.Fatalf("refusal reason %q", reason)
	}
	if _, err := alice.Playlists().Add(ctx, id, docs.AtEnd(), "a2"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "alice's later edit reaches bob", func() bool { return slices.Contains(trackList(t, bob, id), "a2") })
	v, err := alice.Playlists().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.Info.Collaborators, []model.UserID{"bob"}) {
		t.Fatalf("alice's collaborators %v, want [bob]", v.Info.Collaborators)
	}
	if st, _ := bob.Status(ctx); !st.Relay.Connected {
		t.Fatalf("bob disconnected after the refusal: %+v", st.Relay)
	}
}

// TestRefusalClearsWhenDocumentArrives: bob follows alice's playlist
// before alice has synced it; the relay answers doc-unavailable, which
// bob's status lists, and the entry goes once the playlist arrives.
func TestRefusalClearsWhenDocumentArrives(t *testing.T) {
	ctx := t.Context()
	origin := syncRelay(t)
	alice, bob := userDocs(t, origin, "alice"), userDocs(t, origin, "bob")
	id, err := alice.Playlists().Create(ctx, "Later")
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.Playlists().SetCollaborators(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Playlists().Add(ctx, id, docs.AtEnd(), "t1"); err != nil {
		t.Fatal(err)
	}
	if err := bob.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bob.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	refused := func() bool {
		st, err := bob.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(st.Relay.Refused, func(r client.Refusal) bool { return r.Doc == id })
	}
	waitUntil(t, "bob's status lists the unavailable playlist", refused)
	if err := alice.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "bob receives the playlist", func() bool { return len(trackList(t, bob, id)) == 1 })
	waitUntil(t, "the refusal goes", func() bool { return !refused() })
}

// TestPlaylistEditNeedsAccess: a device refuses at once the edits the
// relay would refuse: carol holds alice's playlist (public reader): no
// entry, name or ACL edit (ErrNotWriter, ErrNotOwner), and the document
// is unchanged. Before, each was "done" on the device and set aside at
// the next sync.
func TestPlaylistEditNeedsAccess(t *testing.T) {
	ctx := t.Context()
	carol := userDocs(t, syncRelay(t), "carol")
	h, err := carol.Repo().CreatePlaylist(ctx, "alice", "Alice's")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	if err := h.Playlist(ctx, func(p *docs.Playlist) error {
		if err := p.SetPublic(true); err != nil {
			return err
		}
		_, err := p.Add(docs.AtEnd(), "alice", "t1")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before := h.Heads()
	v, err := carol.Playlists().Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	pl := carol.Playlists()
	for _, c := range []struct {
		name string
		edit func() error
		want error
	}{
		{"add", func() error { _, err := pl.Add(ctx, id, docs.AtEnd(), "t2"); return err }, core.ErrNotWriter},
		{"remove", func() error { return pl.Remove(ctx, id, v.Entries[0].ID) }, core.ErrNotWriter},
		{"move", func() error { return pl.Move(ctx, id, v.Entries[0].ID, docs.AtEnd()) }, core.ErrNotWriter},
		{"rename", func() error { return pl.Rename(ctx, id, "Carol's") }, core.ErrNotWriter},
		{"describe", func() error { return pl.Describe(ctx, id, "mine") }, core.ErrNotWriter},
		{"collab", func() error { return pl.SetCollaborators(ctx, id, "carol") }, core.ErrNotOwner},
		{"public", func() error { return pl.SetPublic(ctx, id, false) }, core.ErrNotOwner},
	} {
		if err := c.edit(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	if !slices.Equal(h.Heads(), before) {
		t.Fatal("a refused edit changed the document")
	}
}
