package core_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/sync/docs"
)

// licenseRelay starts a relay with the license server over the demo
// album on 127.0.0.1 and returns its URL, the catalog key and the track
// ids (album order). It stops when the test ends.
func licenseRelay(t *testing.T) (string, *catalog.Catalog, ed25519.PublicKey, []model.TrackID) {
	t.Helper()
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	return r.URL, r.Server().Catalog(), r.CatalogKey, r.Tracks
}

// syncedDevice is a registered engine of user with its documents synced
// through the relay and downloads following its playlists.
type syncedDevice struct {
	e    *core.Engine
	docs *core.Docs
	dl   *download.Manager
}

func openSyncedDevice(t *testing.T, url string, user model.UserID, downloads bool) *syncedDevice {
	t.Helper()
	ctx := context.Background()
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(url))
	tbed.Register(t, e, user, "device")
	d, err := e.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	s := &syncedDevice{e: e, docs: d}
	if downloads {
		if s.dl, err = e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet())); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.CloseDownloads() })
		if err := e.FollowPlaylists(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestPlaylistDownloadFollowsSync: a playlist downloaded on one device
// follows edits made on another device of the user and synced through
// the relay: an added entry is licensed and downloaded, a removed entry's
// blobs are released unless another downloaded playlist still holds the
// track (counted once). The license of a playlist download covers exactly
// its tracks.
func TestPlaylistDownloadFollowsSync(t *testing.T) {
	url, cat, pub, ids := licenseRelay(t)
	if len(ids) < 4 {
		t.Fatalf("demo album has %d tracks, need 4", len(ids))
	}
	ctx := t.Context()
	phone := openSyncedDevice(t, url, testUser, false)
	laptop := openSyncedDevice(t, url, testUser, true)
	size := map[model.TrackID]int64{}
	for _, id := range ids {
		env, err := cat.Manifest(ctx, id, model.TierLow)
		if err != nil {
			t.Fatal(err)
		}
		m, err := crypto.OpenManifest(pub, env)
		if err != nil {
			t.Fatal(err)
		}
		size[id] = m.Header.Size
		for _, c := range m.Chunks {
			size[id] += c.Blob.Size
		}
	}

	// The phone makes two playlists sharing ids[1]; the laptop gets them
	// through the relay and downloads both.
	road, err := phone.docs.Playlists().Create(ctx, "Road trip")
	if err != nil {
		t.Fatal(err)
	}
	roadEntries, err := phone.docs.Playlists().Add(ctx, road, docs.AtEnd(), ids[0], ids[1])
	if err != nil {
		t.Fatal(err)
	}
	gym, err := phone.docs.Playlists().Create(ctx, "Gym")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.docs.Playlists().Add(ctx, gym, docs.AtEnd(), ids[1], ids[2]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the laptop holds both playlists", func() bool {
		return len(trackList(t, laptop.docs, road)) == 2 && len(trackList(t, laptop.docs, gym)) == 2
	})
	ref := func(id docs.DocumentID) download.Ref {
		return download.Ref{Kind: download.KindPlaylist, ID: id.String(), Tier: model.TierLow}
	}
	if err := laptop.dl.Add(ctx, ref(road)); err != nil {
		t.Fatal(err)
	}
	if err := laptop.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := laptop.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Licenses) != 1 || st.Licenses[0].Entries != 2 {
		t.Fatalf("licenses after the playlist download: %+v, want one of 2 entries", st.Licenses)
	}
	if err := laptop.dl.Add(ctx, ref(gym)); err != nil {
		t.Fatal(err)
	}
	if err := laptop.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	downloaded := func(want ...model.TrackID) bool {
		st, err := laptop.dl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var bytes int64
		for _, id := range want {
			if !laptop.dl.Downloaded(id, model.TierLow) {
				return false
			}
			bytes += size[id]
		}
		return st.Tracks == len(want) && st.TracksDone == len(want) && st.Bytes == bytes
	}
	if !downloaded(ids[0], ids[1], ids[2]) {
		st, _ := laptop.dl.Status(ctx)
		t.Fatalf("after both playlists: %+v", st)
	}

	// The phone adds ids[3] to the road trip: the laptop licenses and
	// downloads it on its own.
	if _, err := phone.docs.Playlists().Add(ctx, road, docs.AtEnd(), ids[3]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the added entry is downloaded", func() bool { return downloaded(ids[0], ids[1], ids[2], ids[3]) })

	// The phone removes ids[1] (still in the gym playlist: kept) and
	// ids[0] (in no other download: released).
	if err := phone.docs.Playlists().Remove(ctx, road, roadEntries...); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the removed entry is released", func() bool { return downloaded(ids[1], ids[2], ids[3]) })
	if laptop.dl.Downloaded(ids[0], model.TierLow) {
		t.Fatal("removed entry still downloaded")
	}
	// The laptop plays what it holds with the relay's keys out of reach
	// (offline mode): the licenses cover the synced additions.
	laptop.e.SetOfflineMode(true)
	for _, id := range []model.TrackID{ids[1], ids[3]} {
		if _, err := laptop.dl.ContentKey(ctx, id, model.TierLow); err != nil {
			t.Fatalf("offline key of %s: %v", id, err)
		}
	}
}

// TestResolvePlaylists: ResolvePlaylists needs the downloads manager,
// then lets it resolve a playlist download from the local replica (no
// sync) without following the playlist: a later edit changes the
// download only once FollowPlaylists follows it.
func TestResolvePlaylists(t *testing.T) {
	url, _, _, ids := licenseRelay(t)
	ctx := t.Context()
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(url))
	tbed.Register(t, e, testUser, "device")
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := e.ResolvePlaylists(ctx, d); !errors.Is(err, core.ErrNoDownloads) {
		t.Fatalf("ResolvePlaylists before OpenDownloads: %v, want ErrNoDownloads", err)
	}
	m, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.CloseDownloads() })
	pl, err := d.Playlists().Create(ctx, "offline")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), ids[0]); err != nil {
		t.Fatal(err)
	}
	ref := download.Ref{Kind: download.KindPlaylist, ID: pl.String(), Tier: model.TierLow}
	if err := m.Add(ctx, ref); !errors.Is(err, download.ErrNoPlaylists) {
		t.Fatalf("Add without a resolver: %v, want ErrNoPlaylists", err)
	}
	if err := e.ResolvePlaylists(ctx, d); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		before func() error
		want   download.TrackCount
	}{
		{"resolved", func() error { return m.Add(ctx, ref) }, download.TrackCount{Tracks: 1, Done: 1}},
		{"edit not followed", func() error {
			_, err := d.Playlists().Add(ctx, pl, docs.AtEnd(), ids[1])
			return err
		}, download.TrackCount{Tracks: 1, Done: 1}},
		{"followed", func() error { return e.FollowPlaylists(ctx, d) }, download.TrackCount{Tracks: 2, Done: 2}},
	}
	for _, s := range steps {
		if err := s.before(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if err := m.Wait(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := m.Count(ref); got != s.want {
			t.Fatalf("%s: %+v, want %+v", s.name, got, s.want)
		}
	}
}
