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
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
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

// BenchmarkDownloadThroughput downloads an album of 16 tracks × (4 KiB
// header + 16 × 256 KiB chunks) = 64 MiB to a fresh device per iteration
// (Add to Wait: album lookup, license, manifests, every blob streamed to a
// file while hashed, verified against the signed manifest, fsynced,
// renamed, its directory fsynced, its done bit committed), and in the same
// iteration fetches the same blob URLs from the same relay with plain
// GETs (http.DefaultClient) at the same concurrency (16 in flight), three
// ways:
//
//   - files (the goal's baseline, a correct, durable, naive downloader):
//     each body written to its own file, each file fsynced, the directory
//     fsynced once at the end;
//   - one file: every body written at its offset into one file, one
//     fsync at the end;
//   - network only: bodies discarded.
//
// The four runs of an iteration go in a rotating order (so load drifts
// and page-cache effects fall on each equally), and each ratio is the
// median over iterations of baseline time / download time, so one
// neighbour's burst moves one sample, not the figure.
func BenchmarkDownloadThroughput(b *testing.B) {
	const tracks, chunks, chunkSize, inFlight = 16, 16, 256 << 10, 16
	var album model.AlbumID
	var hashes []string
	bd := newBed(b, func(ctx context.Context, dd *catalog.DataDir) {
		album, hashes = publishBig(b, ctx, dd, tracks, chunks, chunkSize)
	})
	ctx := context.Background()
	// The token of a registered device authorises the plain GETs.
	tok := bd.openDevice(b, b.TempDir(), "boot0", download.DefaultOptions()).e.Token()
	const (
		runDownload = iota
		runFiles
		runOneFile
		runNetwork
		nRuns
	)
	var total int64
	var dlTime time.Duration
	ratios := make([][]float64, nRuns)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var took [nRuns]time.Duration
		for k := range nRuns {
			switch r := (i + k) % nRuns; r {
			case runDownload:
				b.StopTimer()
				d := bd.openDevice(b, b.TempDir(), "boot1", download.DefaultOptions())
				b.StartTimer()
				start := time.Now()
				if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(album), Tier: model.TierLow}); err != nil {
					b.Fatal(err)
				}
				if err := d.dl.Wait(ctx); err != nil {
					b.Fatal(err)
				}
				took[r] = time.Since(start)
				b.StopTimer()
				st, err := d.dl.Status(ctx)
				if err != nil {
					b.Fatal(err)
				}
				total += st.Bytes
				bd.deregister(b, d)
				d.close()
				b.StartTimer()
			default:
				took[r] = plainGET(b, ctx, bd.url, tok, hashes, inFlight, r)
			}
		}
		dlTime += took[runDownload]
		for r := runFiles; r < nRuns; r++ {
			ratios[r] = append(ratios[r], took[r].Seconds()/took[runDownload].Seconds())
		}
	}
	b.ReportMetric(float64(total)/dlTime.Seconds()/1e6, "MB/s")
	b.ReportMetric(median(ratios[runFiles]), "ratio-vs-http-files")
	b.ReportMetric(median(ratios[runOneFile]), "ratio-vs-http-one-file")
	b.ReportMetric(median(ratios[runNetwork]), "ratio-vs-http-network-only")
}

// plainGET fetches every blob in hashes from the relay at base with plain
// GETs, inFlight at a time, and returns the wall time: mode 1 writes each
// body to its own file (fsync each, then the directory), 2 writes them at
// their offsets into one file (one fsync), 3 discards them.
func plainGET(b testing.TB, ctx context.Context, base, tok string, hashes []string, inFlight, mode int) time.Duration {
	dir := b.TempDir()
	var one *os.File
	if mode == 2 {
		var err error
		if one, err = os.Create(filepath.Join(dir, "all")); err != nil {
			b.Fatal(err)
		}
		defer one.Close()
	}
	var (
		wg  sync.WaitGroup
		off atomic.Int64
		sem = make(chan struct{}, inFlight)
	)
	start := time.Now()
	for _, h := range hashes {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/blobs/"+h, nil)
			if err != nil {
				b.Error(err)
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("GET %s: %s", h, resp.Status)
				return
			}
			switch mode {
			case 1:
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
				if err := f.Close(); err != nil {
					b.Error(err)
				}
			case 2:
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := one.WriteAt(body, off.Add(int64(len(body)))-int64(len(body))); err != nil {
					b.Error(err)
				}
			default:
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	switch mode {
	case 1:
		if err := syncDirPath(dir); err != nil {
			b.Fatal(err)
		}
	case 2:
		if err := one.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	return time.Since(start)
}

// deregister frees d's offline-device slot (DELETE /v1/devices/{id}), so
// that iterations are not limited by the account's device limit.
func (bd *bed) deregister(b testing.TB, d *device) {
	testbed.Deregister(b, bd.url, d.e.DeviceID(), d.e.Token())
}

func syncDirPath(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
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
