package download_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/catalog"
)

// BenchmarkCapacity10k measures, over 10,000 downloaded tracks, the
// one-request renewal of every license (bytes on the wire, time) and the
// engine + downloads open time.
func BenchmarkCapacity10k(b *testing.B) {
	bd, dir, ids := capacityBed(b)
	ctx := context.Background()
	b.Run("renew", func(b *testing.B) {
		d := bd.openDevice(b, dir, "boot1", download.DefaultOptions())
		defer d.close()
		before := bd.bytesOf("/v1/licenses/renew")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := d.dl.Renew(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(bd.bytesOf("/v1/licenses/renew")-before)/float64(b.N), "resp-bytes/op")
		b.ReportMetric(float64(len(ids)), "licensed-tracks")
	})
	b.Run("open", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d := bd.openDevice(b, dir, "boot1", download.DefaultOptions())
			b.StopTimer()
			d.close()
			b.StartTimer()
		}
	})
}

// BenchmarkDownloadThroughput downloads an album of 8 tracks × (4 KiB
// header + 8 × 256 KiB chunks) to a fresh device per iteration (Add to
// Wait: album lookup, license, manifests, every blob streamed to a file
// while hashed, verified, fsynced, renamed, directory fsynced, done bit
// committed), and the same blobs with plain concurrent GETs from the same
// relay at the same concurrency (workers × blobs per track = 16 in
// flight), two ways: bodies written to files, each fsynced, the directory
// fsynced at the end ("to-disk", the like-for-like baseline: a download
// manager must persist durably), and bodies discarded ("network-only").
// It reports plain time / download time for both.
func BenchmarkDownloadThroughput(b *testing.B) {
	const tracks, chunks, chunkSize, inFlight = 16, 16, 256 << 10, 16
	var album model.AlbumID
	var hashes []string
	bd := newBed(b, func(ctx context.Context, dd *catalog.DataDir) {
		album, hashes = publishBig(b, ctx, dd, tracks, chunks, chunkSize)
	})
	ctx := context.Background()
	var total int64
	var dlTime, diskTime, netTime time.Duration
	client := &http.Client{Timeout: 30 * time.Second}
	plain := func(tok string, toDisk bool) time.Duration {
		dir := b.TempDir()
		start := time.Now()
		var wg sync.WaitGroup
		sem := make(chan struct{}, inFlight)
		for _, h := range hashes {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, bd.url+"/v1/blobs/"+h, nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				defer resp.Body.Close()
				if !toDisk {
					io.Copy(io.Discard, resp.Body)
					return
				}
				f, err := os.Create(filepath.Join(dir, h))
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := io.Copy(f, resp.Body); err != nil {
					b.Error(err)
				}
				if err := f.Sync(); err != nil {
					b.Error(err)
				}
				f.Close()
			})
		}
		wg.Wait()
		if toDisk {
			d, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			d.Sync()
			d.Close()
		}
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		d := bd.openDevice(b, b.TempDir(), "boot1", download.DefaultOptions())
		start := time.Now()
		if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(album), Tier: model.TierLow}); err != nil {
			b.Fatal(err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		dlTime += time.Since(start)
		st, err := d.dl.Status(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += st.Bytes
		tok := d.e.Token()
		d.close()
		diskTime += plain(tok, true)
		netTime += plain(tok, false)
	}
	b.ReportMetric(float64(total)/dlTime.Seconds()/1e6, "MB/s")
	b.ReportMetric(diskTime.Seconds()/dlTime.Seconds(), "ratio-vs-http-to-disk")
	b.ReportMetric(netTime.Seconds()/dlTime.Seconds(), "ratio-vs-http-network-only")
}

// publishBig publishes one album of n tracks with chunks random blobs of
// size bytes each; it returns the album and every blob hash.
func publishBig(t testing.TB, ctx context.Context, dd *catalog.DataDir, n, chunks, size int) (model.AlbumID, []string) {
	rng := mrand.New(mrand.NewPCG(3, 4))
	artist := model.Artist{ID: catalog.ArtistIDFor("big"), Name: "big"}
	rel := catalog.Release{Album: model.Album{ID: catalog.AlbumIDFor("big", "big"), Title: "big", ArtistIDs: []model.ArtistID{artist.ID}}, Artists: []model.Artist{artist}}
	var hashes []string
	for i := 0; i < n; i++ {
		var sha [32]byte
		for j := range sha {
			sha[j] = byte(rng.Uint32())
		}
		id := catalog.TrackIDFromMaster(sha)
		key, _ := crypto.NewContentKey(rng2reader{rng})
		blob := func(idx uint64, sz int) model.BlobRef {
			plain := make([]byte, sz)
			for j := range plain {
				plain[j] = byte(rng.Uint32())
			}
			enc := crypto.EncryptBlob(key, idx, plain)
			h, err := dd.Catalog.PutBlob(ctx, enc)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, hex.EncodeToString(h[:]))
			return model.BlobRef{Size: int64(len(enc)), SHA256: h}
		}
		m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: model.TierLow, Codec: model.CodecVorbis,
			SampleRate: 16000, Channels: 2, TotalSamples: int64(chunks) * 16000, Header: blob(0, 4096)}
		for c := 0; c < chunks; c++ {
			m.Chunks = append(m.Chunks, model.Chunk{Index: c, FirstSample: int64(c) * 16000, Samples: 16000, Blob: blob(uint64(c)+1, size)})
		}
		env, err := crypto.SignManifest(dd.Signer, m)
		if err != nil {
			t.Fatal(err)
		}
		tr := model.Track{ID: id, Title: fmt.Sprint("big ", i), ArtistIDs: []model.ArtistID{artist.ID}, AlbumID: rel.Album.ID,
			TrackNumber: i + 1, DiscNumber: 1, SampleRate: 16000, Channels: 2, Samples: m.TotalSamples, Tiers: []model.Tier{model.TierLow}, MasterSHA256: sha}
		rel.Album.TrackIDs = append(rel.Album.TrackIDs, id)
		rel.Tracks = append(rel.Tracks, catalog.TrackRelease{Track: tr, Streams: []catalog.Stream{{Tier: model.TierLow, Envelope: env, Key: key}}})
	}
	if err := dd.Catalog.Publish(ctx, rel); err != nil {
		t.Fatal(err)
	}
	return rel.Album.ID, hashes
}

type rng2reader struct{ r *mrand.Rand }

func (r rng2reader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r.r.Uint32())
	}
	return len(p), nil
}
