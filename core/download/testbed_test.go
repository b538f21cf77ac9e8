package download_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest/segment"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

const (
	testUser   = "ada"
	testPass   = "correct horse battery"
	adminToken = "admin-secret-token-0123456789"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// fakeClock is a settable wall clock plus a monotonic reading that only
// advances with Advance (winding the wall clock does not move it).
type fakeClock struct {
	mu   sync.Mutex
	wall time.Time     // the device's clock, which the user may wind
	real time.Time     // true time: the relay's clock
	mono time.Duration // the device's monotonic clock
}

func newFakeClock() *fakeClock {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return &fakeClock{wall: t0, real: t0, mono: time.Hour}
}

// Real returns true time (the relay's clock).
func (c *fakeClock) Real() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.real
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *fakeClock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

// Advance moves both clocks forward by d (real time passing).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = c.wall.Add(d)
	c.real = c.real.Add(d)
	c.mono += d
}

// SetWall winds only the wall clock (the user changing the time).
func (c *fakeClock) SetWall(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = t
}

// published is what the relay serves.
type published struct {
	album  model.AlbumID
	tracks []model.TrackID
	keys   map[string]crypto.ContentKey // "<track>/<tier>"
	plain  map[string][]byte            // "<track>/<tier>" → the encoded Ogg file
}

// publishDemo publishes the demo album's low tier (real Ogg Vorbis).
func publishDemo(t testing.TB, ctx context.Context, dd *catalog.DataDir) published {
	t.Helper()
	meta, err := demoalbum.Album()
	if err != nil {
		t.Fatal(err)
	}
	tier := model.TierLow
	artist := model.Artist{ID: catalog.ArtistIDFor(meta.AlbumArtists[0]), Name: meta.AlbumArtists[0]}
	rel := catalog.Release{
		Album:   model.Album{ID: catalog.AlbumIDFor(artist.Name, meta.Album), Title: meta.Album, ArtistIDs: []model.ArtistID{artist.ID}},
		Artists: []model.Artist{artist},
	}
	p := published{album: rel.Album.ID, keys: map[string]crypto.ContentKey{}, plain: map[string][]byte{}}
	for _, tm := range meta.Tracks {
		var sha [32]byte
		if _, err := hex.Decode(sha[:], []byte(tm.MasterSHA256)); err != nil {
			t.Fatal(err)
		}
		tr := model.Track{
			ID: catalog.TrackIDFromMaster(sha), Title: tm.Title, ArtistIDs: []model.ArtistID{artist.ID},
			AlbumID: rel.Album.ID, TrackNumber: tm.TrackNumber, DiscNumber: tm.DiscNumber,
			SampleRate: tm.SampleRate, Channels: tm.Channels, Samples: tm.Samples, Loudness: tm.Loudness,
			Tiers: []model.Tier{tier}, MasterSHA256: sha,
		}
		p.tracks = append(p.tracks, tr.ID)
		rel.Album.TrackIDs = append(rel.Album.TrackIDs, tr.ID)
		data, err := demoalbum.FS.ReadFile(path.Join("data", tm.Tiers[tier]))
		if err != nil {
			t.Fatal(err)
		}
		s, err := segment.Split(data, segment.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		key, err := crypto.NewContentKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		p.keys[string(tr.ID)+"/"+string(tier)] = key
		p.plain[string(tr.ID)+"/"+string(tier)] = data
		put := func(idx uint64, plain []byte) model.BlobRef {
			enc := crypto.EncryptBlob(key, idx, plain)
			h, err := dd.Catalog.PutBlob(ctx, enc)
			if err != nil {
				t.Fatal(err)
			}
			return model.BlobRef{Size: int64(len(enc)), SHA256: h}
		}
		m := &model.Manifest{
			Version: model.ManifestVersion, TrackID: tr.ID, Tier: tier, Codec: model.CodecVorbis,
			SampleRate: s.SampleRate, Channels: s.Channels, TotalSamples: s.TotalSamples,
			Loudness: tm.Loudness, Header: put(0, s.Header), Bitrate: s.NominalBitrate,
		}
		for i, c := range s.Chunks {
			m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: c.FirstSample, Samples: c.Samples,
				PrimerSize: int64(c.PrimerSize), Blob: put(uint64(i)+1, c.Data)})
		}
		env, err := crypto.SignManifest(dd.Signer, m)
		if err != nil {
			t.Fatal(err)
		}
		rel.Tracks = append(rel.Tracks, catalog.TrackRelease{Track: tr, Streams: []catalog.Stream{{Tier: tier, Envelope: env, Key: key}}})
	}
	if err := dd.Catalog.Publish(ctx, rel); err != nil {
		t.Fatal(err)
	}
	return p
}

// publishSynthetic publishes n tracks of one tiny header blob and one
// tiny chunk (random bytes, not audio) each, in one album per 1,000.
func publishSynthetic(t testing.TB, ctx context.Context, dd *catalog.DataDir, n int, seed uint64) []model.TrackID {
	t.Helper()
	rng := mrand.New(mrand.NewPCG(seed, 1))
	var ids []model.TrackID
	tier := model.TierLow
	for a := 0; a*1000 < n; a++ {
		artist := model.Artist{ID: catalog.ArtistIDFor(fmt.Sprint("artist ", a)), Name: fmt.Sprint("artist ", a)}
		rel := catalog.Release{
			Album:   model.Album{ID: catalog.AlbumIDFor(artist.Name, "synthetic"), Title: "synthetic", ArtistIDs: []model.ArtistID{artist.ID}},
			Artists: []model.Artist{artist},
		}
		for i := a * 1000; i < min(n, (a+1)*1000); i++ {
			var sha [32]byte
			for j := range sha {
				sha[j] = byte(rng.Uint32())
			}
			id := catalog.TrackIDFromMaster(sha)
			ids = append(ids, id)
			var key crypto.ContentKey
			for j := range key {
				key[j] = byte(rng.Uint32())
			}
			blob := func(idx uint64, size int) model.BlobRef {
				plain := make([]byte, size)
				for j := range plain {
					plain[j] = byte(rng.Uint32())
				}
				enc := crypto.EncryptBlob(key, idx, plain)
				h, err := dd.Catalog.PutBlob(ctx, enc)
				if err != nil {
					t.Fatal(err)
				}
				return model.BlobRef{Size: int64(len(enc)), SHA256: h}
			}
			m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: tier, Codec: model.CodecVorbis,
				SampleRate: 16000, Channels: 2, TotalSamples: 16000, Header: blob(0, 64),
				Chunks: []model.Chunk{{Index: 0, Samples: 16000, Blob: blob(1, 256)}}}
			env, err := crypto.SignManifest(dd.Signer, m)
			if err != nil {
				t.Fatal(err)
			}
			tr := model.Track{ID: id, Title: fmt.Sprint("t", i), ArtistIDs: []model.ArtistID{artist.ID}, AlbumID: rel.Album.ID,
				TrackNumber: i%1000 + 1, DiscNumber: 1, SampleRate: 16000, Channels: 2, Samples: 16000,
				Tiers: []model.Tier{tier}, MasterSHA256: sha}
			rel.Album.TrackIDs = append(rel.Album.TrackIDs, id)
			rel.Tracks = append(rel.Tracks, catalog.TrackRelease{Track: tr, Streams: []catalog.Stream{{Tier: tier, Envelope: env, Key: key}}})
		}
		if err := dd.Catalog.Publish(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// bed is a real relay with the license server on 127.0.0.1, over Badger
// in a temp dir, on a fake clock, behind a counting front.
type bed struct {
	dd    *catalog.DataDir
	srv   *relay.Server
	lic   *license.Server
	clock *fakeClock
	url   string // the counting front
	front *httptest.Server
	up    atomic.Bool  // the front answers only while up
	delay atomic.Int64 // nanoseconds to stall each blob response
	// rewrite, when set, edits the response headers of every request
	// just before they are sent (a man in the middle).
	rewrite atomic.Pointer[func(r *http.Request, h http.Header)]
	// fail, when set, answers with its status (a JSON error) instead of
	// the relay for every request it returns non-zero for.
	fail atomic.Pointer[func(r *http.Request) int]
	// retryAfter, when set, is the Retry-After header of fail's answers.
	retryAfter atomic.Pointer[string]
	pub        ed25519.PublicKey
	mu         sync.Mutex
	counts     map[string]int // path → requests
	bytes      map[string]int64
}

func newBed(t testing.TB, publish func(ctx context.Context, dd *catalog.DataDir)) *bed {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dd.Close() })
	publish(ctx, dd)
	b := &bed{dd: dd, clock: newFakeClock(), pub: dd.Signer.Public().(ed25519.PublicKey), counts: map[string]int{}, bytes: map[string]int64{}}
	b.srv = relay.NewWithDataDir(dd, relay.DefaultOptions("").WithArgonParams(relay.FastArgonParams).
		WithLogger(quiet()).WithClock(b.clock.Real).WithMaxBody(1<<20))
	// No entry budget (server/license tests it): BenchmarkCapacity10k
	// renews 10,000 tracks per iteration, 20 a day under the default.
	b.lic = license.NewForDataDir(dd, license.DefaultOptions().WithClock(b.clock.Real).WithAdminToken(adminToken).WithLogger(quiet()).
		WithDeviceEntriesPerDay(0))
	b.lic.Mount(b.srv)
	h := b.srv.Handler()
	b.up.Store(true)
	b.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !b.up.Load() {
			// Behave like a dead host: drop the connection.
			hj, ok := w.(http.Hijacker)
			if ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		}
		if f := b.fail.Load(); f != nil {
			if code := (*f)(r); code != 0 {
				w.Header().Set("Content-Type", "application/json")
				if ra := b.retryAfter.Load(); ra != nil {
					w.Header().Set("Retry-After", *ra)
				}
				w.WriteHeader(code)
				fmt.Fprintf(w, `{"error":"injected %d"}`, code)
				return
			}
		}
		if d := b.delay.Load(); d > 0 && len(r.URL.Path) > 10 && r.URL.Path[:10] == "/v1/blobs/" {
			time.Sleep(time.Duration(d))
		}
		cw := &countingWriter{ResponseWriter: w, req: r, rewrite: b.rewrite.Load()}
		h.ServeHTTP(cw, r)
		b.mu.Lock()
		b.counts[r.URL.Path]++
		b.bytes[r.URL.Path] += cw.n
		b.mu.Unlock()
	}))
	t.Cleanup(b.front.Close)
	b.url = b.front.URL
	return b
}

type countingWriter struct {
	http.ResponseWriter
	n       int64
	req     *http.Request
	rewrite *func(r *http.Request, h http.Header)
	wrote   bool
}

func (w *countingWriter) WriteHeader(code int) {
	if !w.wrote && w.rewrite != nil {
		(*w.rewrite)(w.req, w.Header())
	}
	w.wrote = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// setRelayTime moves only the relay's clock (true time) to t.
func (c *fakeClock) setRelayTime(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.real = t
}

func (b *bed) count(p string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.counts[p]
}

func (b *bed) setSubscription(t testing.TB, state string) {
	t.Helper()
	if err := b.lic.SetSubscription(context.Background(), testUser, state); err != nil {
		t.Fatal(err)
	}
}

// device is an engine with downloads on the bed's clock.
type device struct {
	e   *core.Engine
	dl  *download.Manager
	dir string
}

func (b *bed) engineOptions() core.Options {
	return core.DefaultOptions().WithOrigins(b.url).WithLogger(quiet()).WithClock(b.clock).
		WithHTTPClient(&http.Client{Timeout: 10 * time.Second})
}

// openDevice opens (or reopens) a device in dir, registering on first use.
func (b *bed) openDevice(t testing.TB, dir, bootID string, opts download.Options) *device {
	t.Helper()
	ctx := context.Background()
	e, err := core.Open(ctx, dir, b.engineOptions())
	if err != nil {
		t.Fatal(err)
	}
	if e.Token() == "" {
		if err := e.SignUp(ctx, testUser, testPass); err != nil && !isConflict(err) {
			t.Fatal(err)
		}
		if err := e.Register(ctx, testUser, testPass, "device "+dir[len(dir)-3:]); err != nil {
			t.Fatal(err)
		}
	}
	dl, err := e.OpenDownloads(ctx, opts.WithClock(b.clock.Now, b.clock.Mono, bootID).WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	d := &device{e: e, dl: dl, dir: dir}
	t.Cleanup(func() { d.close() })
	return d
}

func (d *device) close() {
	d.e.CloseDownloads()
	d.e.Close()
}

func isConflict(err error) bool { return errors.Is(err, core.ErrAccountExists) }

func waitCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}
