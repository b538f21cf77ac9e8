package download_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/catalog"
)

// TestProgressOnlyMovesForward downloads the demo album with a sink that
// is slow for every other progress event (as a terminal can be): each
// track's progress events still arrive in order, one per blob, and its
// completion after the last of them.
func TestProgressOnlyMovesForward(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	var evs eventLog
	slow := func(e download.Event) {
		if e.Kind == download.EventProgress && e.BlobsDone%2 == 1 {
			time.Sleep(time.Millisecond)
		}
		evs.add(e)
	}
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithWorkers(4).WithEvents(slow))
	if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	type state struct {
		blobs int
		bytes int64
		done  bool
	}
	last := map[model.TrackID]*state{}
	evs.mu.Lock()
	defer evs.mu.Unlock()
	for i, e := range evs.ev {
		s := last[e.Track]
		switch e.Kind {
		case download.EventProgress:
			if s == nil {
				s = &state{}
				last[e.Track] = s
			}
			if s.done || e.BlobsDone != s.blobs+1 || e.BytesDone <= s.bytes || e.BytesDone > e.Bytes {
				t.Fatalf("event %d of %s: %d blobs, %d of %d bytes after %d blobs, %d bytes (done %v)",
					i, e.Track, e.BlobsDone, e.BytesDone, e.Bytes, s.blobs, s.bytes, s.done)
			}
			s.blobs, s.bytes = e.BlobsDone, e.BytesDone
		case download.EventTrackDone:
			if s == nil || s.done || s.blobs != e.Blobs || e.BlobsDone != e.Blobs || e.BytesDone != e.Bytes {
				t.Fatalf("event %d: %s done with %+v after %+v", i, e.Track, e, s)
			}
			s.done = true
		}
	}
	for _, id := range p.tracks {
		if s := last[id]; s == nil || !s.done {
			t.Fatalf("track %s: %+v", id, s)
		}
	}
}

// publishTiers publishes an album of n synthetic tracks (a header and
// one chunk each, random bytes) at every tier in tiers.
func publishTiers(t testing.TB, ctx context.Context, dd *catalog.DataDir, n int, tiers ...model.Tier) (model.AlbumID, []model.TrackID) {
	t.Helper()
	artist := model.Artist{ID: catalog.ArtistIDFor("tiers"), Name: "tiers"}
	rel := catalog.Release{
		Album:   model.Album{ID: catalog.AlbumIDFor(artist.Name, "tiers"), Title: "tiers", ArtistIDs: []model.ArtistID{artist.ID}},
		Artists: []model.Artist{artist},
	}
	for i := range n {
		sha := sha256.Sum256(fmt.Appendf(nil, "tiers master %d", i))
		tr := model.Track{ID: catalog.TrackIDFromMaster(sha), Title: fmt.Sprint("t", i), ArtistIDs: []model.ArtistID{artist.ID},
			AlbumID: rel.Album.ID, TrackNumber: i + 1, DiscNumber: 1, SampleRate: 16000, Channels: 2, Samples: 16000,
			Tiers: tiers, MasterSHA256: sha}
		tre := catalog.TrackRelease{Track: tr}
		for _, tier := range tiers {
			var key crypto.ContentKey
			copy(key[:], fmt.Sprintf("%d/%s", i, tier))
			blob := func(idx uint64, size int) model.BlobRef {
				enc := crypto.EncryptBlob(key, idx, make([]byte, size))
				h, err := dd.Catalog.PutBlob(ctx, enc)
				if err != nil {
					t.Fatal(err)
				}
				return model.BlobRef{Size: int64(len(enc)), SHA256: h}
			}
			m := &model.Manifest{Version: model.ManifestVersion, TrackID: tr.ID, Tier: tier, Codec: model.CodecVorbis,
				SampleRate: 16000, Channels: 2, TotalSamples: 16000, Header: blob(0, 64),
				Chunks: []model.Chunk{{Index: 0, Samples: 16000, Blob: blob(1, 256)}}}
			env, err := crypto.SignManifest(dd.Signer, m)
			if err != nil {
				t.Fatal(err)
			}
			tre.Streams = append(tre.Streams, catalog.Stream{Tier: tier, Envelope: env, Key: key})
		}
		rel.Album.TrackIDs = append(rel.Album.TrackIDs, tr.ID)
		rel.Tracks = append(rel.Tracks, tre)
	}
	if err := dd.Catalog.Publish(ctx, rel); err != nil {
		t.Fatal(err)
	}
	return rel.Album.ID, rel.Album.TrackIDs
}

// TestCountsAcrossTiers downloads a two-track album at two tiers: the
// status counts two tracks (with two at each tier), each request two,
// and Count the distinct (track, tier) of the requests it is given.
func TestCountsAcrossTiers(t *testing.T) {
	var (
		album  model.AlbumID
		tracks []model.TrackID
	)
	b := newBed(t, func(ctx context.Context, dd *catalog.DataDir) {
		album, tracks = publishTiers(t, ctx, dd, 2, model.TierLow, model.TierNormal)
	})
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	low := download.Ref{Kind: download.KindAlbum, ID: string(album), Tier: model.TierLow}
	normal := download.Ref{Kind: download.KindAlbum, ID: string(album), Tier: model.TierNormal}
	one := download.Ref{Kind: download.KindTrack, ID: string(tracks[0]), Tier: model.TierLow}
	for _, r := range []download.Ref{low, normal, one} {
		if err := d.dl.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	counts := []struct {
		name string
		refs []download.Ref
		want download.TrackCount
	}{
		{"album at low", []download.Ref{low}, download.TrackCount{Tracks: 2, Done: 2}},
		{"album at normal", []download.Ref{normal}, download.TrackCount{Tracks: 2, Done: 2}},
		{"album and one of its tracks", []download.Ref{low, one}, download.TrackCount{Tracks: 2, Done: 2}},
		{"album at both tiers", []download.Ref{low, normal}, download.TrackCount{Tracks: 4, Done: 4}},
		{"not requested", []download.Ref{{Kind: download.KindAlbum, ID: string(album), Tier: model.TierHigh}}, download.TrackCount{}},
	}
	for _, c := range counts {
		if got := d.dl.Count(c.refs...); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tracks != 2 || st.TracksDone != 2 {
		t.Fatalf("status: %d of %d tracks, want 2 of 2", st.TracksDone, st.Tracks)
	}
	var tiers []model.Tier
	var bytes int64
	for _, ts := range st.Tiers {
		if ts.Tracks != 2 || ts.TracksDone != 2 || ts.Bytes <= 0 {
			t.Fatalf("tier %+v", ts)
		}
		tiers = append(tiers, ts.Tier)
		bytes += ts.Bytes
	}
	if !slices.Equal(tiers, []model.Tier{model.TierLow, model.TierNormal}) || bytes != st.Bytes {
		t.Fatalf("tiers %+v, %d bytes in all", st.Tiers, st.Bytes)
	}
	for _, it := range st.Items {
		if want := map[download.Kind]int{download.KindAlbum: 2, download.KindTrack: 1}[it.Ref.Kind]; it.Tracks != want || it.TracksDone != want {
			t.Fatalf("item %+v", it)
		}
	}
}
