package download_test

import (
	"context"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
)

const capacityTracks = 10000

// capacityBed publishes capacityTracks synthetic tracks and downloads them
// all (ten albums) to one device, whose directory it returns closed.
func capacityBed(t testing.TB) (*bed, string, []model.TrackID) {
	var ids []model.TrackID
	start := time.Now()
	b := newBed(t, func(ctx context.Context, dd *catalog.DataDir) {
		ids = publishSynthetic(t, ctx, dd, capacityTracks, 7)
	})
	t.Logf("published %d tracks in %s", len(ids), time.Since(start))
	ctx := context.Background()
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions().WithWorkers(8))
	start = time.Now()
	albums := map[model.AlbumID]bool{}
	for _, id := range ids {
		tr, err := b.dd.Catalog.Track(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		albums[tr.AlbumID] = true
	}
	for a := range albums {
		if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(a), Tier: model.TierLow}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := d.dl.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("downloaded %d tracks in %s", len(ids), time.Since(start))
	d.close()
	return b, dir, ids
}

// TestCapacity10k: 10,000 downloaded tracks — engine open time, one-request
// renewal (bytes, time), storage accounting.
func TestCapacity10k(t *testing.T) {
	if testing.Short() {
		t.Skip("capacity test in -short mode")
	}
	b, dir, ids := capacityBed(t)
	ctx := context.Background()

	start := time.Now()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
	open := time.Since(start)
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tracks != len(ids) || st.TracksDone != len(ids) {
		t.Fatalf("status: %d tracks, %d done", st.Tracks, st.TracksDone)
	}
	if want := int64(len(ids)) * (64 + 256); st.Bytes != want {
		t.Fatalf("storage: %d bytes, want %d", st.Bytes, want)
	}
	if len(st.Licenses) != 10 {
		t.Fatalf("%d licenses before renewal, want 10", len(st.Licenses))
	}
	before := b.bytesOf("/v1/licenses/renew")
	start = time.Now()
	if err := d.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	renew := time.Since(start)
	n := b.bytesOf("/v1/licenses/renew") - before
	if c := b.count("/v1/licenses/renew"); c != 1 {
		t.Fatalf("renewal took %d requests", c)
	}
	st, _ = d.dl.Status(ctx)
	if len(st.Licenses) != 1 || st.Licenses[0].Entries != len(ids) {
		t.Fatalf("after renewal: %+v", st.Licenses)
	}
	if _, err := d.dl.ContentKey(ctx, ids[len(ids)-1], model.TierLow); err != nil {
		t.Fatal(err)
	}
	// Each album's metadata was recorded whole (in several batches).
	last, ok, err := d.dl.TrackInfo(ctx, ids[len(ids)-1])
	if err != nil || !ok {
		t.Fatalf("TrackInfo of the last track: %v, %v", ok, err)
	}
	if a, tracks, ok, err := d.dl.AlbumInfo(ctx, last.AlbumID); err != nil || !ok || len(tracks) != 1000 || tracks[999].ID != ids[len(ids)-1] {
		t.Fatalf("AlbumInfo of the last album: %s, %d tracks, %v, %v", a.ID, len(tracks), ok, err)
	}
	t.Logf("engine open with %d downloads: %s; renewal: 1 request, %d bytes, %s", len(ids), open, n, renew)
	if n > 1<<20 {
		t.Errorf("renewal answer %d bytes > 1 MiB", n)
	}
}

func (b *bed) bytesOf(p string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bytes[p]
}
