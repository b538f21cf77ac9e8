// Package blobstoretest is the conformance suite every blobstore.Store
// backend passes: call Run from the backend's tests with a constructor of
// empty stores.
package blobstoretest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// blob returns a deterministic blob of n bytes and its name.
func blob(seed byte, n int) ([32]byte, []byte) {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return sha256.Sum256(b), b
}

// Run checks the Store contract on stores made by open, which must
// return an empty store each time (for example a fresh bucket or prefix).
func Run(t *testing.T, open func(t *testing.T) blobstore.Store) {
	ctx := context.Background()
	t.Run("Size", func(t *testing.T) {
		s := open(t)
		for _, n := range []int{1, 1000, 1<<20 - 1, 1 << 20, 3 << 20, model.MaxBlobSize} {
			h, b := blob(byte(n), n)
			if _, err := s.Size(ctx, h); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Size before Put: %v, want ErrNotFound", err)
			}
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatalf("Put %d bytes: %v", n, err)
			}
			got, err := s.Size(ctx, h)
			if err != nil || got < int64(n) || got > int64(n)+blobstore.SizeSlack {
				t.Fatalf("Size of %d bytes: %d, %v", n, got, err)
			}
			if err := s.Delete(ctx, h); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Size(ctx, h); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Size after Delete: %v, want ErrNotFound", err)
			}
		}
	})
	t.Run("PutGetHas", func(t *testing.T) {
		s := open(t)
		for _, n := range []int{1, 1000, 1 << 20, model.MaxBlobSize} {
			h, b := blob(byte(n), n)
			if ok, err := s.Has(ctx, h); err != nil || ok {
				t.Fatalf("Has before Put: %v %v", ok, err)
			}
			if _, err := s.Get(ctx, h); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Get before Put: %v, want ErrNotFound", err)
			}
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatalf("Put %d bytes: %v", n, err)
			}
			got, err := s.Get(ctx, h)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("Get %d bytes: %d bytes, %v", n, len(got), err)
			}
			got[0] ^= 1 // the caller owns the slice
			if again, _ := s.Get(ctx, h); !bytes.Equal(again, b) {
				t.Fatal("modifying a returned blob changed the store")
			}
			if ok, err := s.Has(ctx, h); err != nil || !ok {
				t.Fatalf("Has after Put: %v %v", ok, err)
			}
		}
	})
	t.Run("PutIdempotent", func(t *testing.T) {
		s := open(t)
		h, b := blob(1, 500)
		for range 3 {
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		if err := s.List(ctx, func(blobstore.Info) error { n++; return nil }); err != nil || n != 1 {
			t.Fatalf("listed %d blobs (%v), want 1", n, err)
		}
	})
	t.Run("PutRejects", func(t *testing.T) {
		s := open(t)
		h, b := blob(2, 100)
		other, _ := blob(3, 100)
		tests := []struct {
			name string
			h    [32]byte
			data []byte
			want error
		}{
			{"wrong name", other, b, blobstore.ErrHashMismatch},
			{"empty", sha256.Sum256(nil), nil, blobstore.ErrTooLarge},
			{"too large", sha256.Sum256(make([]byte, model.MaxBlobSize+1)), make([]byte, model.MaxBlobSize+1), blobstore.ErrTooLarge},
		}
		for _, tt := range tests {
			if err := s.Put(ctx, tt.h, tt.data); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
			if ok, _ := s.Has(ctx, tt.h); ok {
				t.Errorf("%s: stored after a refused Put", tt.name)
			}
		}
		if ok, _ := s.Has(ctx, h); ok {
			t.Error("the refused bytes are stored under their own name")
		}
	})
	t.Run("DeleteList", func(t *testing.T) {
		s := open(t)
		var names [][32]byte
		for i := range 20 {
			h, b := blob(byte(10+i), 64+i)
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatal(err)
			}
			names = append(names, h)
		}
		for _, h := range names[:5] {
			if err := s.Delete(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, names[0]); err != nil {
			t.Fatalf("deleting a missing blob: %v", err)
		}
		var listed [][32]byte
		if err := s.List(ctx, func(in blobstore.Info) error { listed = append(listed, in.Hash); return nil }); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(names[5:])
		slices.SortFunc(want, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		if !slices.Equal(listed, want) {
			t.Fatalf("listed %d blobs, want the %d not deleted in ascending order", len(listed), len(want))
		}
		stop := errors.New("stop")
		n := 0
		if err := s.List(ctx, func(blobstore.Info) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("List with a failing fn: %v after %d calls", err, n)
		}
		if _, err := s.Get(ctx, names[0]); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("Get of a deleted blob: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 16 {
			wg.Go(func() {
				h, b := blob(byte(i%4), 4096) // four blobs, each put by four writers
				if err := s.Put(ctx, h, b); err != nil {
					errs <- err
					return
				}
				got, err := s.Get(ctx, h)
				if err != nil || !bytes.Equal(got, b) {
					errs <- fmt.Errorf("read back: %d bytes, %v", len(got), err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("ListModified", func(t *testing.T) {
		s := open(t)
		before := time.Now()
		h, b := blob(40, 100)
		if err := s.Put(ctx, h, b); err != nil {
			t.Fatal(err)
		}
		after := time.Now()
		var got []blobstore.Info
		if err := s.List(ctx, func(in blobstore.Info) error { got = append(got, in); return nil }); err != nil {
			t.Fatal(err)
		}
		// Object stores keep whole seconds; allow a little clock skew.
		if len(got) != 1 || got[0].Hash != h || got[0].Modified.Before(before.Add(-2*time.Second)) || got[0].Modified.After(after.Add(2*time.Second)) {
			t.Fatalf("listed %+v, want %x modified between %v and %v", got, h, before, after)
		}
	})
	t.Run("GC", func(t *testing.T) { testGC(t, open(t)) })
	t.Run("Cancelled", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		h, b := blob(9, 100)
		if err := s.Put(cctx, h, b); err == nil {
			if ok, _ := s.Has(ctx, h); !ok {
				t.Fatal("Put with a cancelled context returned nil but stored nothing")
			}
		}
	})
}

// release publishes, through c, an album of one track whose one stream
// references a header and chunk put now, and returns their names.
func release(t *testing.T, c *catalog.Catalog, title string) [][32]byte {
	t.Helper()
	ctx := context.Background()
	seed := sha256.Sum256([]byte(title))
	var key crypto.ContentKey
	copy(key[:], seed[16:])
	var refs []model.BlobRef
	for i := range 2 {
		enc := crypto.EncryptBlob(key, uint64(i), append([]byte(title), byte(i)))
		h, err := c.PutBlob(ctx, enc)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, model.BlobRef{Size: int64(len(enc)), SHA256: h})
	}
	artist := model.Artist{ID: catalog.ArtistIDFor("Conformance"), Name: "Conformance"}
	track := model.Track{ID: catalog.TrackIDFromMaster(seed), Title: title, ArtistIDs: []model.ArtistID{artist.ID},
		AlbumID: catalog.AlbumIDFor(artist.Name, title), TrackNumber: 1, DiscNumber: 1, SampleRate: 44100, Channels: 2,
		Samples: 44100, Tiers: []model.Tier{model.TierLow}, MasterSHA256: seed}
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: track.ID, Tier: model.TierLow, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, Header: refs[0], TotalSamples: 44100,
		Chunks: []model.Chunk{{Index: 0, Samples: 44100, Blob: refs[1]}}}
	env, err := crypto.SignManifest(ed25519.NewKeyFromSeed(seed[:]), m)
	if err != nil {
		t.Fatal(err)
	}
	r := catalog.Release{
		Album:   model.Album{ID: track.AlbumID, Title: title, ArtistIDs: []model.ArtistID{artist.ID}},
		Artists: []model.Artist{artist},
		Tracks:  []catalog.TrackRelease{{Track: track, Streams: []catalog.Stream{{Tier: model.TierLow, Envelope: env, Key: key}}}},
	}
	if err := c.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}
	return [][32]byte{refs[0].SHA256, refs[1].SHA256}
}

// testGC runs catalog.GCWith over s: referenced blobs stay, unreferenced
// ones younger than the grace period stay, older ones go, page by page;
// a cancelled GC deletes nothing.
func testGC(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	c := catalog.NewWithBlobs(store.NewMemory(), catalog.AtRestKey{7}, s)
	kept := release(t, c, "Kept")
	var orphans [][32]byte
	for i := range 5 {
		h, b := blob(byte(50+i), 200+i)
		if err := s.Put(ctx, h, b); err != nil {
			t.Fatal(err)
		}
		orphans = append(orphans, h)
	}
	count := func() int {
		n := 0
		if err := s.List(ctx, func(blobstore.Info) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	now := time.Now()
	if n, err := c.GCWith(ctx, catalog.DefaultGCOptions().WithClock(func() time.Time { return now })); err != nil || n != 0 {
		t.Fatalf("GC within the grace period removed %d (%v), want 0", n, err)
	}
	later := func() time.Time { return now.Add(2 * time.Hour) }
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.GCWith(cctx, catalog.DefaultGCOptions().WithClock(later)); !errors.Is(err, context.Canceled) {
		t.Fatalf("GC with a cancelled context: %v", err)
	}
	if n := count(); n != len(kept)+len(orphans) {
		t.Fatalf("%d blobs after a cancelled GC, want %d", n, len(kept)+len(orphans))
	}
	n, err := c.GCWith(ctx, catalog.DefaultGCOptions().WithClock(later).WithPageSize(2))
	if err != nil || n != len(orphans) {
		t.Fatalf("GC past the grace period removed %d (%v), want %d", n, err, len(orphans))
	}
	for _, h := range orphans {
		if ok, err := s.Has(ctx, h); err != nil || ok {
			t.Fatalf("orphan %x still stored (%v)", h, err)
		}
	}
	for _, h := range kept {
		if _, err := c.Blob(ctx, h); err != nil {
			t.Fatalf("referenced blob %x: %v", h, err)
		}
	}
	if n, err := c.GCWith(ctx, catalog.DefaultGCOptions().WithClock(later)); err != nil || n != 0 {
		t.Fatalf("second GC removed %d (%v), want 0", n, err)
	}
}
