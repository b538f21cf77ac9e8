package peer_test

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// legacyRepo returns a repository whose store holds two playlists of
// alice's — big, with a description change of 20 KiB, and small — made
// without limits, reopened with 16 KiB messages and 8 KiB changes: a
// store from before the limits, or with limits lowered, whose big
// playlist no message can carry.
func legacyRepo(ctx context.Context, t *testing.T) (r *repo.Repo, big, small docs.DocumentID) {
	t.Helper()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	opts := repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))
	before, err := repo.Open(ctx, st, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"big", "small"} {
		h, err := before.CreatePlaylist(ctx, "alice", name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			if name == "big" {
				return p.Doc().RootMap().Set("description", strings.Repeat("d", 20<<10)) // past docs.MaxDescriptionBytes: a foreign client's
			}
			_, err := p.Add(docs.AtEnd(), "alice", "s1")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			big = h.ID()
		} else {
			small = h.ID()
		}
	}
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	r, err = repo.Open(ctx, st, opts.WithSyncLimits(16<<10, 8<<10))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, big, small
}

// tracksOf returns the tracks of playlist id in r (nil: not held).
func tracksOf(ctx context.Context, r *repo.Repo, id docs.DocumentID) []model.TrackID {
	h, err := r.Get(ctx, id)
	if err != nil || h.Empty() {
		return nil
	}
	var out []model.TrackID
	if err := h.ReadPlaylist(func(p *docs.Playlist) error {
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, e.Track)
		}
		return err
	}); err != nil {
		return nil
	}
	return out
}

// refusal is one OnRefused call.
type refusal struct {
	id     docs.DocumentID
	reason string
}

// TestUnsendableDocumentRefused: a document whose next sync message
// cannot fit a frame even with changes left for later (here a stored
// change over the sender's message limit) is refused for that document
// alone, in either direction: the sender tells the remote with an error
// naming the document and both sides' OnRefused hear of it, while the
// session goes on — the other document syncs, before and after — and
// neither Run returns an error. Before, the send's ErrFrameTooLarge ended
// the whole session, at every reconnection.
func TestUnsendableDocumentRefused(t *testing.T) {
	for _, tc := range []struct {
		name            string
		relayHoldsFirst bool
	}{
		{"relay to device", true},
		{"device to relay", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			legacy, big, small := legacyRepo(ctx, t)
			fresh := openRepo(ctx, t)
			relay, device := legacy, fresh
			if !tc.relayHoldsFirst {
				relay, device = fresh, legacy
			}
			relayEnd, deviceEnd := pipe()
			log := slog.New(slog.DiscardHandler)
			relayRefused, deviceRefused := make(chan refusal, 16), make(chan refusal, 16)
			rs := &peer.Session{Repo: peer.NewRepoAdapter(relay), Authz: peer.DocumentAccess, User: "alice", LocalID: "relay",
				RemoteID: "dev", RemoteStorage: "dev-store", Conn: relayEnd, Log: log,
				OnRefused: func(id docs.DocumentID, reason string) { relayRefused <- refusal{id, reason} }}
			ds := &peer.Session{Repo: peer.NewRepoAdapter(device), Authz: peer.AllowAll, LocalID: "dev", RemoteID: "relay",
				RemoteStorage: "relay-store", Conn: deviceEnd, Log: log, FollowAll: true,
				OnRefused: func(id docs.DocumentID, reason string) { deviceRefused <- refusal{id, reason} }}
			done := make(chan error, 2)
			go func() { done <- rs.Run(ctx) }()
			go func() { done <- ds.Run(ctx) }()
			ds.Want(big, small)

			waitFor(t, "the small playlist synced", func() bool {
				return slices.Equal(tracksOf(ctx, relay, small), []model.TrackID{"s1"}) &&
					slices.Equal(tracksOf(ctx, device, small), []model.TrackID{"s1"})
			})
			for _, ch := range []chan refusal{relayRefused, deviceRefused} {
				select {
				case r := <-ch:
					if r.id != big || !strings.Contains(r.reason, wire.ErrSyncTooLarge.Error()) {
						t.Fatalf("refusal %+v, want the big playlist, too large", r)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("no refusal of the big playlist")
				}
			}
			// The session goes on: an edit of the small playlist on the
			// side that held both still travels.
			h, err := legacy.Get(ctx, small)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "s2"); return err }); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the later edit synced", func() bool {
				return slices.Equal(tracksOf(ctx, fresh, small), []model.TrackID{"s1", "s2"})
			})
			// The big playlist's creation went (changes are sent while
			// they fit); its big change did not.
			if fh, err := fresh.Get(ctx, big); err == nil && !fh.Empty() {
				if err := fh.ReadPlaylist(func(p *docs.Playlist) error {
					info, err := p.Info()
					if err == nil && info.Description != "" {
						t.Error("the big change reached the other side")
					}
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-done:
				t.Fatalf("a session ended: %v", err)
			default:
			}
			cancel()
			for range 2 {
				if err := <-done; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
