package core_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/store"
)

// events records fetch events.
type events struct {
	mu sync.Mutex
	ev []fetch.Event
}

func (e *events) observe(ev fetch.Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ev = append(e.ev, ev)
}

func (e *events) failures() []fetch.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []fetch.Event
	for _, ev := range e.ev {
		if ev.Err != nil {
			out = append(out, ev)
		}
	}
	return out
}

func readStream(t testing.TB, tr *core.Track) []byte {
	t.Helper()
	r := tr.Stream(context.Background())
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStreamEqualsEncodedFile(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	ctx := context.Background()
	for _, id := range tb.tracks {
		for _, tier := range testTiers {
			tr, err := e.OpenTrack(ctx, id, tier)
			if err != nil {
				t.Fatal(err)
			}
			want := tb.originals[string(id)+"/"+string(tier)]
			if got := readStream(t, tr); !bytes.Equal(got, want) {
				t.Fatalf("%s/%s: stream of %d bytes differs from the %d-byte encoded file", id, tier, len(got), len(want))
			}
			// Chunks one by one: header ‖ chunk0 ‖ chunk_i[primer:] again.
			m := tr.Manifest()
			h, err := tr.Header(ctx)
			if err != nil {
				t.Fatal(err)
			}
			joined := h
			for i, c := range m.Chunks {
				b, err := tr.Chunk(ctx, i)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(b[c.PrimerSize:], []byte("OggS")) {
					t.Fatalf("chunk %d does not start with a page after its primer", i)
				}
				joined = append(joined, b[c.PrimerSize:]...)
			}
			if !bytes.Equal(joined, want) {
				t.Fatalf("%s/%s: joined chunks differ from the encoded file", id, tier)
			}
		}
	}
}

// TestStreamDecodesWithOggdec checks the decrypted stream with libvorbis:
// it decodes to exactly the manifest's sample count.
func TestStreamDecodesWithOggdec(t *testing.T) {
	oggdec := testtool.Need(t, "oggdec")
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	tr, err := e.OpenTrack(context.Background(), tb.tracks[1], model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "t.ogg"), filepath.Join(dir, "t.raw")
	if err := os.WriteFile(in, readStream(t, tr), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(oggdec, "-Q", "-R", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("oggdec: %v: %s", err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	m := tr.Manifest()
	if got := fi.Size() / int64(2*m.Channels); got != m.TotalSamples {
		t.Fatalf("oggdec decoded %d samples, manifest says %d", got, m.TotalSamples)
	}
}

func TestTamperedChunkAtFirstOrigin(t *testing.T) {
	tb := newTestbed(t)
	id, tier := tb.tracks[0], model.TierHigh
	tp := newTamperer(tb.srv.Handler())
	for _, p := range tb.chunkPaths(t, id, tier, 1) {
		tp.flip[p] = 1000
	}
	bad, _ := tp.serve(t)
	ev := &events{}
	e := tb.openEngine(t, core.DefaultOptions().WithObserver(ev.observe), bad, tb.url)
	tr, err := e.OpenTrack(context.Background(), id, tier)
	if err != nil {
		t.Fatal(err)
	}
	if got := readStream(t, tr); !bytes.Equal(got, tb.originals[string(id)+"/"+string(tier)]) {
		t.Fatal("stream differs from the encoded file")
	}
	fails := ev.failures()
	if len(fails) != 1 {
		t.Fatalf("got %d failures, want 1: %+v", len(fails), fails)
	}
	var oe *fetch.OriginError
	if !errors.As(fails[0].Err, &oe) || oe.Origin != bad || !errors.Is(oe, core.ErrIntegrity) ||
		oe.Request.Kind != fetch.KindChunk || oe.Request.Index != 1 {
		t.Fatalf("failure %v: want an integrity error of %s for chunk 1", fails[0].Err, bad)
	}

	// With the tampering origin alone, the chunk is refused.
	e2 := tb.openEngine(t, core.DefaultOptions(), bad)
	tr, err = e2.OpenTrack(context.Background(), id, tier)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Chunk(context.Background(), 1); !errors.Is(err, core.ErrIntegrity) || !errors.As(err, &oe) || oe.Origin != bad {
		t.Fatalf("got %v, want an integrity error naming %s", err, bad)
	}
	if _, err := tr.Chunk(context.Background(), 0); err != nil {
		t.Fatalf("untampered chunk: %v", err)
	}
}

func TestTamperedManifestSignatureRejected(t *testing.T) {
	tb := newTestbed(t)
	id, tier := tb.tracks[2], model.TierLow
	tp := newTamperer(tb.srv.Handler())
	// The envelope ends with the key id (8 bytes) after the 64-byte
	// signature: flip a byte inside the signature.
	tp.flip["/v1/audio/"+string(id)+"/"+string(tier)+"/manifest"] = -20
	bad, _ := tp.serve(t)

	e := tb.openEngine(t, core.DefaultOptions(), bad)
	_, err := e.OpenTrack(context.Background(), id, tier)
	if !errors.Is(err, core.ErrIntegrity) || !errors.Is(err, crypto.ErrBadSignature) {
		t.Fatalf("got %v, want a bad-signature integrity error", err)
	}
	// A good mirror behind it serves the real one.
	e2 := tb.openEngine(t, core.DefaultOptions(), bad, tb.url)
	if _, err := e2.OpenTrack(context.Background(), id, tier); err != nil {
		t.Fatal(err)
	}
	// A relay whose catalog key is not the configured one is refused at
	// registration (manifests signed by another key: see package fetch).
	other, _, _ := ed25519.GenerateKey(nil)
	e3, err := core.Open(context.Background(), t.TempDir(), core.DefaultOptions().WithCatalogKey(other).WithOrigins(tb.url).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer e3.Close()
	if err := e3.Register(context.Background(), testUser, testPass, "x"); !errors.Is(err, core.ErrCatalogKeyMismatch) {
		t.Fatalf("got %v, want ErrCatalogKeyMismatch", err)
	}
}

func TestOfflineFromCache(t *testing.T) {
	tb := newTestbed(t)
	id, tier := tb.tracks[3], model.TierHigh
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	ctx := context.Background()
	tr, err := e.OpenTrack(ctx, id, tier)
	if err != nil {
		t.Fatal(err)
	}
	want := readStream(t, tr)
	tb.stop()
	// Relay down: manifest, blobs (cache) and key (memory) still serve.
	tr, err = e.OpenTrack(ctx, id, tier)
	if err != nil {
		t.Fatal(err)
	}
	if got := readStream(t, tr); !bytes.Equal(got, want) {
		t.Fatal("offline stream differs")
	}
	// An uncached track reports ErrOffline.
	if _, err := e.OpenTrack(ctx, tb.tracks[0], tier); !errors.Is(err, core.ErrOffline) {
		t.Fatalf("got %v, want ErrOffline", err)
	}
}

func TestCacheBoundedLRU(t *testing.T) {
	tb := newTestbed(t)
	const bound = 200 << 10
	e := tb.openEngine(t, core.DefaultOptions().WithCacheBytes(bound), tb.url)
	ctx := context.Background()
	for _, id := range tb.tracks {
		tr, err := e.OpenTrack(ctx, id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		readStream(t, tr)
		blobs, size := e.Fetcher().CacheStats()
		if size > bound || blobs == 0 {
			t.Fatalf("cache holds %d blobs, %d bytes; bound %d", blobs, size, bound)
		}
	}
	// The last track's final chunks are the most recent, so cached; the
	// first track's first chunk is long evicted.
	tr, err := e.OpenTrack(ctx, tb.tracks[3], model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	m := tr.Manifest()
	if !e.Fetcher().Cached(m.Chunks[len(m.Chunks)-1].Blob) {
		t.Fatal("most recent chunk not cached")
	}
	tr0, err := e.OpenTrack(ctx, tb.tracks[0], model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	if e.Fetcher().Cached(tr0.Manifest().Chunks[0].Blob) {
		t.Fatal("least recently used chunk still cached")
	}
}

func TestCancellationStopsStream(t *testing.T) {
	tb := newTestbed(t)
	id, tier := tb.tracks[0], model.TierLow
	tp := newTamperer(tb.srv.Handler())
	for _, p := range tb.chunkPaths(t, id, tier, 2) {
		tp.stall[p] = true
	}
	slow, _ := tp.serve(t)
	e := tb.openEngine(t, core.DefaultOptions(), slow)
	ctx, cancel := context.WithCancel(context.Background())
	tr, err := e.OpenTrack(ctx, id, tier)
	if err != nil {
		t.Fatal(err)
	}
	r := tr.Stream(ctx)
	defer r.Close()
	// Header, chunk 0 and chunk 1 arrive; chunk 2 stalls.
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = io.Copy(io.Discard, r)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancellation took %s", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for tp.stalled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stalled origin request was not cancelled")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestNoPlaintextInStore scans every value in the device store after
// streaming: no Ogg page, no Vorbis header, no content key.
func TestNoPlaintextInStore(t *testing.T) {
	tb := newTestbed(t)
	st := store.NewMemory()
	ks := &crypto.MemoryKeyStore{}
	e := tb.openEngine(t, core.DefaultOptions().WithStore(st).WithKeyStore(ks), tb.url)
	ctx := context.Background()
	for _, tier := range testTiers {
		tr, err := e.OpenTrack(ctx, tb.tracks[0], tier)
		if err != nil {
			t.Fatal(err)
		}
		readStream(t, tr)
	}
	keys := 0
	err := st.Iterate(ctx, nil, false, func(k, v []byte) error {
		keys++
		for _, bad := range [][]byte{[]byte("OggS"), []byte("\x01vorbis"), []byte("\x03vorbis"), []byte("\x05vorbis")} {
			if bytes.Contains(v, bad) {
				t.Errorf("value of %q contains %q", k, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if keys < 10 {
		t.Fatalf("only %d keys in the store: nothing was cached?", keys)
	}
}

func TestRegisterPersistsAcrossRestart(t *testing.T) {
	tb := newTestbed(t)
	ctx := context.Background()
	dir := t.TempDir()
	opts := core.DefaultOptions().WithOrigins(tb.url).WithLogger(quiet())
	e, err := core.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenTrack(ctx, tb.tracks[0], model.TierLow); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("before registering: got %v, want ErrNotRegistered", err)
	}
	if err := e.SignUp(ctx, "grace", testPass); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(ctx, "grace", "wrong password", "x"); !errors.Is(err, core.ErrUnauthorized) {
		t.Fatalf("wrong password: got %v, want ErrUnauthorized", err)
	}
	if err := e.Register(ctx, "grace", testPass, "laptop"); err != nil {
		t.Fatal(err)
	}
	dev, tok := e.DeviceID(), e.Token()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = core.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.DeviceID() != dev || e.Token() != tok || tok == "" {
		t.Fatal("identity or token not persisted")
	}
	if _, err := e.OpenTrack(ctx, tb.tracks[0], model.TierLow); err != nil {
		t.Fatal(err)
	}
	// The token is in the key store, not in the Badger store.
	raw, err := os.ReadFile(filepath.Join(dir, "keys", "relay-token.key"))
	if err != nil || len(raw) == 0 {
		t.Fatalf("token file: %v", err)
	}
	if err := e.Store().Iterate(ctx, nil, false, func(k, v []byte) error {
		if bytes.Contains(v, []byte(tok)) || bytes.Contains(k, []byte(tok)) {
			t.Errorf("token found in the store at %q", k)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenNeedsOrigins(t *testing.T) {
	if _, err := core.Open(context.Background(), t.TempDir(), core.DefaultOptions()); !errors.Is(err, core.ErrNoOrigins) {
		t.Fatalf("got %v, want ErrNoOrigins", err)
	}
}

// TestOpenRefusesZeroOptions: Options not made by DefaultOptions are
// refused with ErrOptions (the zero value opened an engine with no blob
// cache, no content-key caching and HTTP/2 off), and nothing is created
// in the data directory.
func TestOpenRefusesZeroOptions(t *testing.T) {
	dir := t.TempDir()
	if _, err := core.Open(context.Background(), dir, core.Options{}.WithOrigins("http://127.0.0.1:1")); !errors.Is(err, core.ErrOptions) {
		t.Fatalf("got %v, want ErrOptions", err)
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 0 {
		t.Fatalf("data directory after the refusal: %v, %v", ents, err)
	}
}

// fakeClock is a settable Clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestContentKeyExpires: a streaming key lives in memory for the TTL by
// the engine's clock, then must be fetched again.
func TestContentKeyExpires(t *testing.T) {
	tb := newTestbed(t)
	clock := &fakeClock{now: time.Now()}
	e := tb.openEngine(t, core.DefaultOptions().WithClock(clock).WithKeyTTL(10*time.Minute), tb.url)
	ctx := context.Background()
	id, tier := tb.tracks[1], model.TierLow
	tr, err := e.OpenTrack(ctx, id, tier)
	if err != nil {
		t.Fatal(err)
	}
	readStream(t, tr)
	tb.stop()
	clock.advance(9 * time.Minute)
	if _, err := e.OpenTrack(ctx, id, tier); err != nil {
		t.Fatalf("within the TTL: %v", err)
	}
	clock.advance(2 * time.Minute)
	if _, err := e.OpenTrack(ctx, id, tier); !errors.Is(err, core.ErrOffline) {
		t.Fatalf("after the TTL with the relay down: got %v, want ErrOffline", err)
	}
	// A Track opened earlier keeps its key.
	if b := readStream(t, tr); len(b) == 0 {
		t.Fatal("empty stream")
	}
}
