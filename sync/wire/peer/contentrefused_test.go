package peer_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestContentRefusedSetAside: alice's device holds a change to one of
// her playlists that the relay refuses for its content (docs.CheckContent:
// a name with a control character, written by a client without the
// setters' checks). The device set aside only changes refused for an ACL
// or read-only rule, so it kept the change and sent it again at every
// sync, and every later edit of that playlist, made on top of it, was
// refused with it: the playlist never synced again. Now the refusal
// names the content rule, the device rebuilds the playlist without the
// change and reports it (OnSetAside), later edits of it reach the relay,
// and her other playlist syncs throughout.
func TestContentRefusedSetAside(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	relay, err := repo.Open(ctx, st, repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)).
		WithContentCheck(docs.CheckContent))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relay.Close() })
	device := openRepo(ctx, t)

	var ids []docs.DocumentID
	for _, name := range []string{"Bad", "Other"} {
		h, err := device.CreatePlaylist(ctx, "alice", name)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
	}
	bad, other := ids[0], ids[1]
	edit := func(id docs.DocumentID, fn func(p *docs.Playlist) error) {
		t.Helper()
		h, err := device.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Playlist(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	read := func(r *repo.Repo, id docs.DocumentID) (name string, tracks []string) {
		h, err := r.Get(ctx, id)
		if err != nil {
			return "", nil
		}
		_ = h.ReadPlaylist(func(p *docs.Playlist) error {
			info, err := p.Info()
			if err != nil {
				return err
			}
			name = info.Name
			es, err := p.Entries()
			for _, e := range es {
				tracks = append(tracks, string(e.Track))
			}
			return err
		})
		return name, tracks
	}

	relayEnd, deviceEnd := pipe()
	refused := make(chan string, 8)
	setAside := make(chan int, 8)
	log := slog.New(slog.DiscardHandler)
	rs := &peer.Session{Repo: peer.NewRepoAdapter(relay), Authz: peer.DocumentAccess, User: "alice", LocalID: "relay",
		RemoteID: "alice-dev", RemoteStorage: "alice-store", Conn: relayEnd, Log: log}
	ds := &peer.Session{Repo: peer.NewRepoAdapter(device), Authz: peer.AllowAll, LocalID: "alice-dev", RemoteID: "relay",
		RemoteStorage: "relay-store", Conn: deviceEnd, Log: log, FollowAll: true, SetAsideRefused: true,
		OnRefused:  func(_ docs.DocumentID, reason string) { refused <- reason },
		OnSetAside: func(_ docs.DocumentID, n int) { setAside <- n },
	}
	done := make(chan error, 2)
	go func() { done <- rs.Run(ctx) }()
	go func() { done <- ds.Run(ctx) }()
	defer func() {
		cancel()
		for range 2 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}()
	ds.Want(bad, other)
	waitFor(t, "both playlists reach the relay", func() bool {
		n1, _ := read(relay, bad)
		n2, _ := read(relay, other)
		return n1 == "Bad" && n2 == "Other"
	})

	edit(bad, func(p *docs.Playlist) error {
		if err := p.Doc().RootMap().Set("name", "Bad\x01name"); err != nil {
			return err
		}
		_, err := p.Doc().Commit("rename")
		return err
	})
	var reason string
	waitFor(t, "the refusal", func() bool {
		select {
		case reason = <-refused:
			return true
		default:
			return false
		}
	})
	t.Logf("refusal: %s", reason)
	if !strings.Contains(reason, "bad content") {
		t.Errorf("refusal %q does not name the content rule", reason)
	}
	waitFor(t, "the refused change set aside", func() bool {
		select {
		case n := <-setAside:
			if n != 1 {
				t.Fatalf("%d changes set aside, want 1", n)
			}
			return true
		default:
			return false
		}
	})
	if name, _ := read(device, bad); name != "Bad" {
		t.Errorf("the device's playlist is named %q after the set-aside, want Bad", name)
	}
	edit(bad, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err })
	edit(other, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t2"); return err })
	waitFor(t, "later edits of both playlists reach the relay", func() bool {
		_, t1 := read(relay, bad)
		_, t2 := read(relay, other)
		return slices.Equal(t1, []string{"t1"}) && slices.Equal(t2, []string{"t2"})
	})
	if name, _ := read(relay, bad); name != "Bad" {
		t.Errorf("the relay's playlist is named %q, want Bad", name)
	}
}
