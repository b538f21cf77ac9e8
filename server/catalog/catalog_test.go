package catalog

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// backends returns each real store backend, fresh.
func backends(t *testing.T) map[string]store.Store {
	t.Helper()
	ctx := context.Background()
	b, err := badgerstore.Open(ctx, filepath.Join(t.TempDir(), "db"), badgerstore.DefaultOptions().WithSyncWrites(false))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return map[string]store.Store{"memory": store.NewMemory(), "badger": b}
}

type fixture struct {
	signer ed25519.PrivateKey
	rng    *rand.ChaCha8
}

func newFixture(seed byte) *fixture {
	var s [32]byte
	s[0] = seed
	return &fixture{signer: ed25519.NewKeyFromSeed(s[:]), rng: rand.NewChaCha8(s)}
}

// stream encrypts nChunks random chunks plus a header for (id, tier), puts
// the blobs, and returns the signed stream.
func (f *fixture) stream(t *testing.T, c *Catalog, id model.TrackID, tier model.Tier, nChunks int) (Stream, [][32]byte) {
	t.Helper()
	ctx := context.Background()
	key, err := crypto.NewContentKey(f.rng)
	if err != nil {
		t.Fatal(err)
	}
	put := func(idx uint64, size int) model.BlobRef {
		plain := make([]byte, size)
		f.rng.Read(plain)
		enc := crypto.EncryptBlob(key, idx, plain)
		h, err := c.PutBlob(ctx, enc)
		if err != nil {
			t.Fatal(err)
		}
		return model.BlobRef{Size: int64(len(enc)), SHA256: h}
	}
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: tier, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, Header: put(0, 300)}
	hashes := [][32]byte{m.Header.SHA256}
	for i := range nChunks {
		ref := put(uint64(i+1), 1000+i)
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: int64(i) * 44100, Samples: 44100, PrimerSize: int64(min(i, 1) * 50), Blob: ref})
		hashes = append(hashes, ref.SHA256)
	}
	m.TotalSamples = int64(nChunks) * 44100
	env, err := crypto.SignManifest(f.signer, m)
	if err != nil {
		t.Fatal(err)
	}
	return Stream{Tier: tier, Envelope: env, Key: key}, hashes
}

func (f *fixture) release(t *testing.T, c *Catalog, album string, trackNos ...int) (Release, [][32]byte) {
	t.Helper()
	artist := model.Artist{ID: ArtistIDFor("Segue Ensemble"), Name: "Segue Ensemble"}
	r := Release{
		Album:   model.Album{ID: AlbumIDFor(artist.Name, album), Title: album, ArtistIDs: []model.ArtistID{artist.ID}, ReleaseDate: "2026"},
		Artists: []model.Artist{artist},
	}
	var all [][32]byte
	for _, n := range trackNos {
		sha := [32]byte{byte(n), 0xaa}
		copy(sha[2:], album)
		tr := model.Track{ID: TrackIDFromMaster(sha), Title: fmt.Sprintf("Track %d", n), ArtistIDs: []model.ArtistID{artist.ID},
			AlbumID: r.Album.ID, TrackNumber: n, DiscNumber: 1, SampleRate: 44100, Channels: 2, Samples: 88200,
			Tiers: []model.Tier{model.TierLow, model.TierHigh}, MasterSHA256: sha}
		trr := TrackRelease{Track: tr}
		for _, tier := range tr.Tiers {
			s, hs := f.stream(t, c, tr.ID, tier, 2)
			trr.Streams = append(trr.Streams, s)
			all = append(all, hs...)
		}
		r.Tracks = append(r.Tracks, trr)
	}
	return r, all
}

func TestPublishAndRead(t *testing.T) {
	ctx := context.Background()
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			c := New(s, AtRestKey{1, 2, 3})
			f := newFixture(1)
			r, hashes := f.release(t, c, "Segue Demo", 2, 1)
			if err := c.Publish(ctx, r); err != nil {
				t.Fatal(err)
			}
			al, err := c.Album(ctx, r.Album.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := []model.TrackID{r.Tracks[1].Track.ID, r.Tracks[0].Track.ID} // ordered by track number
			if !slices.Equal(al.TrackIDs, want) {
				t.Fatalf("album tracks %v, want %v", al.TrackIDs, want)
			}
			for _, tr := range r.Tracks {
				got, err := c.Track(ctx, tr.Track.ID)
				if err != nil || got.Title != tr.Track.Title || got.MasterSHA256 != tr.Track.MasterSHA256 {
					t.Fatalf("track %s: %+v, %v", tr.Track.ID, got, err)
				}
				id, ok, err := c.TrackByMaster(ctx, tr.Track.MasterSHA256)
				if err != nil || !ok || id != tr.Track.ID {
					t.Fatalf("master index: %s %v %v", id, ok, err)
				}
				for _, st := range tr.Streams {
					env, err := c.Manifest(ctx, tr.Track.ID, st.Tier)
					if err != nil {
						t.Fatal(err)
					}
					m, err := crypto.OpenManifest(f.signer.Public().(ed25519.PublicKey), env)
					if err != nil || m.TrackID != tr.Track.ID {
						t.Fatalf("manifest: %v %v", m, err)
					}
					k, err := c.contentKey(ctx, tr.Track.ID, st.Tier)
					if err != nil || k != st.Key {
						t.Fatalf("content key %x, want %x (%v)", k, st.Key, err)
					}
				}
			}
			albums, err := c.ArtistAlbums(ctx, r.Artists[0].ID)
			if err != nil || len(albums) != 1 || albums[0].ID != r.Album.ID {
				t.Fatalf("artist albums %v %v", albums, err)
			}
			for _, h := range hashes {
				b, err := c.Blob(ctx, h)
				if err != nil || crypto.BlobHash(b) != h {
					t.Fatalf("blob %x: %v", h, err)
				}
			}
			if n, err := c.GC(ctx); err != nil || n != 0 {
				t.Fatalf("gc removed %d referenced blobs (%v)", n, err)
			}
			n := 0
			if err := c.EachTrack(ctx, func(model.Track) error { n++; return nil }); err != nil || n != 2 {
				t.Fatalf("EachTrack saw %d tracks (%v)", n, err)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	ctx := context.Background()
	c := New(store.NewMemory(), AtRestKey{})
	checks := []struct {
		name string
		err  error
	}{
		{"track", func() error { _, err := c.Track(ctx, "trnope"); return err }()},
		{"track with slash", func() error { _, err := c.Track(ctx, "a/b"); return err }()},
		{"album", func() error { _, err := c.Album(ctx, "alnope"); return err }()},
		{"artist", func() error { _, err := c.Artist(ctx, "arnope"); return err }()},
		{"artist albums", func() error { _, err := c.ArtistAlbums(ctx, "arnope"); return err }()},
		{"manifest", func() error { _, err := c.Manifest(ctx, "trnope", model.TierLow); return err }()},
		{"manifest bad tier", func() error { _, err := c.Manifest(ctx, "trnope", "ultra"); return err }()},
		{"key", func() error { _, err := c.contentKey(ctx, "trnope", model.TierLow); return err }()},
		{"blob", func() error { _, err := c.Blob(ctx, [32]byte{9}); return err }()},
	}
	for _, tc := range checks {
		if !errors.Is(tc.err, ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", tc.name, tc.err)
		}
	}
	if _, ok, err := c.TrackByMaster(ctx, [32]byte{1}); ok || err != nil {
		t.Errorf("TrackByMaster of unknown master: %v %v", ok, err)
	}
}

func TestWrongAtRestKey(t *testing.T) {
	ctx := context.Background()
	s := store.NewMemory()
	c := New(s, AtRestKey{1})
	r, _ := newFixture(2).release(t, c, "A", 1)
	if err := c.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	_, err := New(s, AtRestKey{2}).contentKey(ctx, r.Tracks[0].Track.ID, model.TierLow)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	// A sealed key moved to another (track, tier) fails authentication.
	sealed, _ := s.Get(ctx, contentKeyKey(r.Tracks[0].Track.ID, model.TierLow))
	s.Set(ctx, contentKeyKey(r.Tracks[0].Track.ID, model.TierHigh), sealed)
	if _, err := c.contentKey(ctx, r.Tracks[0].Track.ID, model.TierHigh); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("moved key: err = %v, want ErrCorrupt", err)
	}
}

func TestPublishRejects(t *testing.T) {
	ctx := context.Background()
	c := New(store.NewMemory(), AtRestKey{})
	f := newFixture(3)
	base, _ := f.release(t, c, "A", 1)
	other, _ := f.release(t, c, "B", 1)
	tests := []struct {
		name   string
		mutate func(r *Release)
		want   error
	}{
		{"no tracks", func(r *Release) { r.Tracks = nil }, ErrBadRelease},
		{"empty album id", func(r *Release) { r.Album.ID = "" }, ErrBadRelease},
		{"track on other album", func(r *Release) { r.Tracks[0].Track.AlbumID = "alx" }, ErrBadRelease},
		{"unknown artist", func(r *Release) { r.Artists = nil }, ErrBadRelease},
		{"no streams", func(r *Release) { r.Tracks[0].Streams = nil }, ErrBadRelease},
		{"repeated tier", func(r *Release) { r.Tracks[0].Streams[1] = r.Tracks[0].Streams[0] }, ErrBadRelease},
		{"manifest of another track", func(r *Release) { r.Tracks[0].Streams = other.Tracks[0].Streams }, ErrBadRelease},
		{"garbage envelope", func(r *Release) { r.Tracks[0].Streams[0].Envelope = []byte{0xa1, 1, 2} }, ErrBadRelease},
		{"missing blob", func(r *Release) {
			s := r.Tracks[0].Streams[0]
			r.Tracks[0].Streams = []Stream{s}
			m, _ := manifestOf(s.Envelope)
			m.Chunks[1].Blob.SHA256[0] ^= 1
			env, _ := crypto.SignManifest(f.signer, m)
			r.Tracks[0].Streams[0].Envelope = env
		}, ErrMissingBlob},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			r.Tracks = slices.Clone(base.Tracks)
			r.Tracks[0].Streams = slices.Clone(base.Tracks[0].Streams)
			tc.mutate(&r)
			if err := c.Publish(ctx, r); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if _, err := c.Album(ctx, base.Album.ID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("failed publish left the album visible: %v", err)
			}
			if _, ok, _ := c.TrackByMaster(ctx, base.Tracks[0].Track.MasterSHA256); ok {
				t.Fatal("failed publish left the master index")
			}
		})
	}
}

// failingStore fails every Update after running its function, like a
// commit failing on a full disk.
type failingStore struct{ store.Store }

var errCommit = errors.New("commit failed")

func (f failingStore) Update(ctx context.Context, fn func(store.Txn) error) error {
	return errCommit
}

func TestFailedPublishIsInvisibleAndGCed(t *testing.T) {
	ctx := context.Background()
	for name, s := range backends(t) {
		t.Run(name, func(t *testing.T) {
			bad := New(failingStore{s}, AtRestKey{})
			r, hashes := newFixture(4).release(t, bad, "A", 1, 2)
			if err := bad.Publish(ctx, r); !errors.Is(err, errCommit) {
				t.Fatalf("err = %v, want the commit failure", err)
			}
			c := New(s, AtRestKey{})
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := c.Publish(cctx, r); err == nil {
				t.Fatal("publish with a cancelled context succeeded")
			}
			for _, tr := range r.Tracks {
				if _, err := c.Track(ctx, tr.Track.ID); !errors.Is(err, ErrNotFound) {
					t.Fatalf("track visible after failed publish: %v", err)
				}
				if _, err := c.Manifest(ctx, tr.Track.ID, model.TierLow); !errors.Is(err, ErrNotFound) {
					t.Fatalf("manifest visible after failed publish: %v", err)
				}
			}
			n, err := c.GC(ctx)
			if err != nil || n != len(hashes) {
				t.Fatalf("gc removed %d of %d orphans (%v)", n, len(hashes), err)
			}
			for _, h := range hashes {
				if ok, _ := c.HasBlob(ctx, h); ok {
					t.Fatalf("orphan %x survived gc", h)
				}
			}
		})
	}
}

func TestRepublishMergesAndOrphans(t *testing.T) {
	ctx := context.Background()
	c := New(store.NewMemory(), AtRestKey{})
	f := newFixture(5)
	r1, _ := f.release(t, c, "A", 1)
	r2, _ := f.release(t, c, "A", 2)
	for _, r := range []Release{r2, r1} {
		if err := c.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	al, err := c.Album(ctx, r1.Album.ID)
	if err != nil || !slices.Equal(al.TrackIDs, []model.TrackID{r1.Tracks[0].Track.ID, r2.Tracks[0].Track.ID}) {
		t.Fatalf("merged album %v (%v)", al.TrackIDs, err)
	}
	// Re-publish track 1 with only a new low stream: its old blobs become
	// orphans and the high tier disappears.
	s, _ := f.stream(t, c, r1.Tracks[0].Track.ID, model.TierLow, 3)
	r1b := r1
	r1b.Tracks = []TrackRelease{{Track: r1.Tracks[0].Track, Streams: []Stream{s}}}
	if err := c.Publish(ctx, r1b); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Manifest(ctx, r1.Tracks[0].Track.ID, model.TierHigh); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped tier still served: %v", err)
	}
	n, err := c.GC(ctx)
	if err != nil || n != 2*3 { // two old streams of header + 2 chunks
		t.Fatalf("gc removed %d, want 6 (%v)", n, err)
	}
}

func TestIDs(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"Segue Ensemble", "segue  ensemble ", true},
		{"Segue Ensemble", "Segue Ensembles", false},
		{"Bj\u00f6rk", "Bjo\u0308rk", true},          // NFC and NFD
		{"Sigur R\u00f3s", "SIGUR RO\u0301S ", true}, // NFD, upper case, space
		{"Bj\u00f6rk", "Bjork", false},               // a diacritic is not dropped
	}
	for _, tc := range tests {
		if got := ArtistIDFor(tc.a) == ArtistIDFor(tc.b); got != tc.same {
			t.Errorf("ArtistIDFor(%q) == ArtistIDFor(%q): %v", tc.a, tc.b, got)
		}
	}
	id := TrackIDFromMaster([32]byte{1, 2, 3})
	if len(id) != 18 || id[:2] != "tr" {
		t.Fatalf("track id %q", id)
	}
	if AlbumIDFor("Bj\u00f6rk", "Homog\u00e9nic") != AlbumIDFor("Bjo\u0308rk", "Homoge\u0301nic") {
		t.Error("album ids differ between the NFC and NFD spellings of one album")
	}
	if AlbumIDFor("x", "y z") == AlbumIDFor("x y", "z") {
		t.Fatal("album ids collide across the artist/title split")
	}
}

func TestOpenDataDirKeepsKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := newFixture(6).release(t, d.Catalog, "A", 1)
	if err := d.Catalog.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	pub := d.Signer.Public()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if !d2.Signer.Public().(ed25519.PublicKey).Equal(pub) {
		t.Fatal("signing key changed across opens")
	}
	k, err := d2.Catalog.contentKey(ctx, r.Tracks[0].Track.ID, model.TierLow)
	if err != nil || k != r.Tracks[0].Streams[0].Key {
		t.Fatalf("content key after reopen: %x %v", k, err)
	}
}
