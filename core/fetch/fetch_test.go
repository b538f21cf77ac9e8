package fetch_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// fixture is one signed (track, tier) stream with random "encrypted"
// blobs: the fetcher never decrypts, so any bytes do.
type fixture struct {
	pub    ed25519.PublicKey
	priv   ed25519.PrivateKey
	m      *model.Manifest
	env    []byte
	header []byte
	chunks [][]byte
}

func newFixture(t testing.TB, seed uint64, track model.TrackID, nchunks, chunkSize int) *fixture {
	t.Helper()
	fx, err := buildFixture(seed, track, nchunks, chunkSize)
	if err != nil {
		t.Fatal(err)
	}
	return fx
}

func buildFixture(seed uint64, track model.TrackID, nchunks, chunkSize int) (*fixture, error) {
	rng := rand.New(rand.NewPCG(seed, 1))
	pub, priv, err := ed25519.GenerateKey(rngReader{rng})
	if err != nil {
		return nil, err
	}
	f := &fixture{pub: pub, priv: priv}
	randBytes := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	f.header = randBytes(3000)
	m := &model.Manifest{
		Version: model.ManifestVersion, TrackID: track, Tier: model.TierHigh, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, Bitrate: 160000,
		Header: model.BlobRef{Size: int64(len(f.header)), SHA256: crypto.BlobHash(f.header)},
	}
	for i := range nchunks {
		c := randBytes(chunkSize + i)
		f.chunks = append(f.chunks, c)
		primer := int64(0)
		if i > 0 {
			primer = 100
		}
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: int64(i) * 44100, Samples: 44100, PrimerSize: primer,
			Blob: model.BlobRef{Size: int64(len(c)), SHA256: crypto.BlobHash(c)}})
	}
	m.TotalSamples = int64(nchunks) * 44100
	f.m = m
	if f.env, err = crypto.SignManifest(priv, m); err != nil {
		return nil, err
	}
	return f, nil
}

type rngReader struct{ r *rand.Rand }

func (r rngReader) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte(r.r.Uint32())
	}
	return len(b), nil
}

// req is the request the fetcher makes for an object once it knows the
// manifest: blobs by hash.
func (f *fixture) req(kind fetch.Kind, i int) fetch.Request {
	r := f.posReq(kind, i)
	switch kind {
	case fetch.KindHeader:
		r.Hash = f.m.Header.SHA256
	case fetch.KindChunk:
		r.Hash = f.m.Chunks[i].Blob.SHA256
	}
	return r
}

// posReq is the positional request (before the manifest is known).
func (f *fixture) posReq(kind fetch.Kind, i int) fetch.Request {
	return fetch.Request{Kind: kind, Track: f.m.TrackID, Tier: f.m.Tier, Index: i}
}

// origin returns a memory origin serving the fixture at both paths.
func (f *fixture) origin(name string) *fetch.MemoryOrigin {
	o := fetch.NewMemoryOrigin(name)
	o.Put(f.req(fetch.KindManifest, 0), f.env)
	o.Put(f.req(fetch.KindHeader, 0), f.header)
	o.Put(f.posReq(fetch.KindHeader, 0), f.header)
	for i, c := range f.chunks {
		o.Put(f.req(fetch.KindChunk, i), c)
		o.Put(f.posReq(fetch.KindChunk, i), c)
	}
	return o
}

func (f *fixture) keyFunc() fetch.KeyFunc {
	return func(context.Context) (ed25519.PublicKey, error) { return f.pub, nil }
}

// recorder collects observer events.
type recorder struct {
	mu     sync.Mutex
	events []fetch.Event
}

func (r *recorder) observe(e fetch.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) failures() []fetch.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []fetch.Event
	for _, e := range r.events {
		if e.Err != nil {
			out = append(out, e)
		}
	}
	return out
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newFetcher(t testing.TB, st store.Store, fx *fixture, rec *recorder, origins ...fetch.Origin) *fetch.Fetcher {
	t.Helper()
	opts := fetch.DefaultOptions().WithLogger(quietLogger())
	if rec != nil {
		opts = opts.WithObserver(rec.observe)
	}
	f, err := fetch.New(context.Background(), st, origins, fx.keyFunc(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x01
	return c
}

// netErr is what a refused connection looks like to an origin.
var netErr = &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}

func TestFailoverToSecondOrigin(t *testing.T) {
	fx := newFixture(t, 1, "trfailover", 3, 5000)
	tests := []struct {
		name      string
		break1    func(o *fetch.MemoryOrigin)
		wantErrIs error
	}{
		{"tampered chunk", func(o *fetch.MemoryOrigin) { o.Put(fx.req(fetch.KindChunk, 1), flip(fx.chunks[1], 17)) }, fetch.ErrIntegrity},
		{"truncated chunk", func(o *fetch.MemoryOrigin) { o.Put(fx.req(fetch.KindChunk, 1), fx.chunks[1][:100]) }, fetch.ErrIntegrity},
		{"missing chunk", func(o *fetch.MemoryOrigin) {
			o.Put(fx.req(fetch.KindChunk, 1), nil)
			o.Fail(fx.req(fetch.KindChunk, 1), &fetch.StatusError{Code: 404})
		}, fetch.ErrNotFound},
		{"server error", func(o *fetch.MemoryOrigin) { o.Fail(fx.req(fetch.KindChunk, 1), &fetch.StatusError{Code: 503}) }, nil},
		{"unreachable", func(o *fetch.MemoryOrigin) { o.Fail(fx.req(fetch.KindChunk, 1), netErr) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o1, o2 := fx.origin("o1"), fx.origin("o2")
			tt.break1(o1)
			rec := &recorder{}
			f := newFetcher(t, store.NewMemory(), fx, rec, o1, o2)
			ctx := context.Background()
			m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
			if err != nil {
				t.Fatal(err)
			}
			for i := range fx.chunks {
				got, err := f.Chunk(ctx, m, i)
				if err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
				if !bytes.Equal(got, fx.chunks[i]) {
					t.Fatalf("chunk %d: wrong bytes", i)
				}
			}
			fails := rec.failures()
			if len(fails) != 1 {
				t.Fatalf("got %d failure events, want 1: %+v", len(fails), fails)
			}
			var oe *fetch.OriginError
			if !errors.As(fails[0].Err, &oe) || oe.Origin != "o1" || oe.Request.Kind != fetch.KindChunk || oe.Request.Index != 1 {
				t.Fatalf("failure event %v does not name o1 chunk 1", fails[0].Err)
			}
			if tt.wantErrIs != nil && !errors.Is(oe, tt.wantErrIs) {
				t.Fatalf("failure %v is not %v", oe, tt.wantErrIs)
			}
			if o2.Requests(fx.req(fetch.KindChunk, 0)) != 0 || o2.Requests(fx.req(fetch.KindChunk, 1)) != 1 {
				t.Fatal("second origin used for more than the failed chunk")
			}
		})
	}
}

func TestEveryOriginFails(t *testing.T) {
	fx := newFixture(t, 2, "trfail", 2, 4000)
	ctx := context.Background()
	tests := []struct {
		name        string
		break1      func(o *fetch.MemoryOrigin)
		wantIs      []error
		wantNotIs   []error
		wantMention string
	}{
		{"both unreachable", func(o *fetch.MemoryOrigin) { o.Fail(fx.req(fetch.KindChunk, 0), netErr) },
			[]error{fetch.ErrOffline}, []error{fetch.ErrIntegrity}, "connection refused"},
		{"both tampered", func(o *fetch.MemoryOrigin) { o.Put(fx.req(fetch.KindChunk, 0), flip(fx.chunks[0], 0)) },
			[]error{fetch.ErrIntegrity}, []error{fetch.ErrOffline}, "origin o2"},
		{"both 404", func(o *fetch.MemoryOrigin) { o.Fail(fx.req(fetch.KindChunk, 0), &fetch.StatusError{Code: 404}) },
			[]error{fetch.ErrNotFound}, []error{fetch.ErrOffline, fetch.ErrIntegrity}, "status 404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o1, o2 := fx.origin("o1"), fx.origin("o2")
			tt.break1(o1)
			tt.break1(o2)
			f := newFetcher(t, store.NewMemory(), fx, nil, o1, o2)
			m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.Chunk(ctx, m, 0)
			for _, want := range tt.wantIs {
				if !errors.Is(err, want) {
					t.Errorf("error %v is not %v", err, want)
				}
			}
			for _, not := range tt.wantNotIs {
				if errors.Is(err, not) {
					t.Errorf("error %v is %v", err, not)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantMention) {
				t.Errorf("error %v does not mention %q", err, tt.wantMention)
			}
			if blobs, _ := f.CacheStats(); blobs != 0 {
				t.Errorf("%d blobs cached after a failure", blobs)
			}
		})
	}
}

func TestManifestVerification(t *testing.T) {
	fx := newFixture(t, 3, "trman", 2, 1000)
	other := newFixture(t, 3, "trother", 2, 1000) // same key, other track
	badSig := flip(fx.env, len(fx.env)-40)
	ctx := context.Background()
	tests := []struct {
		name   string
		serve1 []byte // what origin 1 serves as the manifest
		only   bool   // origin 1 only
		wantOK bool
	}{
		{"tampered signature, good mirror", badSig, false, true},
		{"tampered signature, no mirror", badSig, true, false},
		{"other track's manifest", other.env, true, false},
		{"garbage", []byte("not cbor at all"), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o1 := fx.origin("o1")
			o1.Put(fx.req(fetch.KindManifest, 0), tt.serve1)
			origins := []fetch.Origin{o1}
			if !tt.only {
				origins = append(origins, fx.origin("o2"))
			}
			rec := &recorder{}
			st := store.NewMemory()
			f := newFetcher(t, st, fx, rec, origins...)
			m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if m.TrackID != fx.m.TrackID || len(m.Chunks) != 2 {
					t.Fatalf("wrong manifest %+v", m)
				}
			} else if !errors.Is(err, fetch.ErrIntegrity) {
				t.Fatalf("got %v, want ErrIntegrity", err)
			}
			fails := rec.failures()
			if len(fails) == 0 || !errors.Is(fails[0].Err, fetch.ErrIntegrity) || fails[0].Origin != "o1" {
				t.Fatalf("no integrity failure reported for o1: %+v", fails)
			}
			cached, err := st.Get(ctx, []byte("cache/man/trman/high"))
			switch {
			case tt.wantOK && !bytes.Equal(cached, fx.env):
				t.Fatal("good manifest not cached")
			case !tt.wantOK && !errors.Is(err, store.ErrNotFound):
				t.Fatal("rejected manifest was cached")
			}
		})
	}
}

func TestTamperedCachedManifestIsRefetched(t *testing.T) {
	fx := newFixture(t, 4, "trcman", 1, 1000)
	ctx := context.Background()
	st := store.NewMemory()
	o := fx.origin("o1")
	f := newFetcher(t, st, fx, nil, o)
	if err := st.Set(ctx, []byte("cache/man/trcman/high"), flip(fx.env, len(fx.env)-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier); err != nil {
		t.Fatal(err)
	}
	if n := o.Requests(fx.req(fetch.KindManifest, 0)); n != 1 {
		t.Fatalf("origin asked %d times, want 1", n)
	}
}

func TestCacheHitNeedsNoOrigin(t *testing.T) {
	fx := newFixture(t, 5, "trcache", 3, 2000)
	ctx := context.Background()
	o := fx.origin("o1")
	f := newFetcher(t, store.NewMemory(), fx, nil, o)
	m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		for i := range fx.chunks {
			if _, err := f.Chunk(ctx, m, i); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.Header(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for i := range fx.chunks {
		if n := o.Requests(fx.req(fetch.KindChunk, i)); n != 1 {
			t.Fatalf("chunk %d fetched %d times", i, n)
		}
	}
	if n := o.Requests(fx.req(fetch.KindManifest, 0)); n != 1 {
		t.Fatalf("manifest fetched %d times", n)
	}
}

// TestChunkFromReportsNetwork: ChunkFrom says network for a chunk
// fetched from the origin, not for the same chunk from the cache or from
// pinned storage (a download), and returns the same bytes each time.
func TestChunkFromReportsNetwork(t *testing.T) {
	fx := newFixture(t, 6, "trfrom", 2, 2000)
	ctx := context.Background()
	f := newFetcher(t, store.NewMemory(), fx, nil, fx.origin("o1"))
	m, err := f.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
	if err != nil {
		t.Fatal(err)
	}
	pinned := map[[32]byte][]byte{}
	for _, step := range []struct {
		name    string
		chunk   int
		network bool
	}{
		{"first fetch", 0, true},
		{"cache hit", 0, false},
		{"pinned", 1, false},
	} {
		if step.name == "pinned" {
			pinned[m.Chunks[1].Blob.SHA256] = fx.chunks[1]
			f.SetPinned(func(_ context.Context, h [32]byte) ([]byte, bool, error) {
				b, ok := pinned[h]
				return bytes.Clone(b), ok, nil
			})
		}
		b, network, err := f.ChunkFrom(ctx, m, step.chunk)
		if err != nil || network != step.network {
			t.Fatalf("%s: network %v, %v; want %v", step.name, network, err, step.network)
		}
		want, err := f.Chunk(ctx, m, step.chunk)
		if err != nil || !bytes.Equal(b, want) {
			t.Fatalf("%s: bytes differ from Chunk (%v)", step.name, err)
		}
	}
}

func TestCacheSurvivesRestartAndEvictsLRU(t *testing.T) {
	fx := newFixture(t, 6, "trlru", 6, 10000) // chunk i is 10000+i bytes
	ctx := context.Background()
	dir := t.TempDir()
	open := func() store.Store {
		st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions().WithLogger(quietLogger()))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	// Room for 3 chunks (≈30 KB).
	mk := func(st store.Store, o fetch.Origin) *fetch.Fetcher {
		f, err := fetch.New(ctx, st, []fetch.Origin{o}, fx.keyFunc(), fetch.DefaultOptions().WithCacheBytes(30100).WithLogger(quietLogger()))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	st := open()
	f := mk(st, fx.origin("o1"))
	get := func(f *fetch.Fetcher, i int) {
		t.Helper()
		if _, err := f.Chunk(ctx, fx.m, i); err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
	}
	get(f, 0)
	get(f, 1)
	get(f, 2)
	get(f, 0) // 0 is now more recent than 1 and 2
	get(f, 3) // evicts 1
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, true, false, false} {
		if got := f.Cached(fx.m.Chunks[i].Blob); got != want {
			t.Fatalf("before restart: chunk %d cached = %v, want %v", i, got, want)
		}
	}
	if blobs, size := f.CacheStats(); blobs != 3 || size > 30100 {
		t.Fatalf("cache holds %d blobs, %d bytes", blobs, size)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open()
	defer st.Close()
	offline := fetch.NewMemoryOrigin("offline")
	offline.Fail(fx.req(fetch.KindChunk, 0), netErr)
	f = mk(st, offline)
	for i, want := range []bool{true, false, true, true, false, false} {
		if got := f.Cached(fx.m.Chunks[i].Blob); got != want {
			t.Fatalf("after restart: chunk %d cached = %v, want %v", i, got, want)
		}
	}
	get(f, 2) // from cache, origin is down
	get(f, 3)
	// Order is now 0 (oldest), 2, 3: adding 4 evicts 0.
	if err := f.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open()
	f = mk(st, fx.origin("o1"))
	get(f, 4)
	for i, want := range []bool{false, false, true, true, true, false} {
		if got := f.Cached(fx.m.Chunks[i].Blob); got != want {
			t.Fatalf("after eviction: chunk %d cached = %v, want %v", i, got, want)
		}
	}
	// The store holds exactly the cached blobs: eviction deleted the rest.
	n := 0
	if err := st.Iterate(ctx, []byte("cache/blob/"), false, func(k, v []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("store holds %d cached blobs, want 3", n)
	}
	st.Close()
}

func TestCorruptCacheEntryIsRefetched(t *testing.T) {
	fx := newFixture(t, 7, "trcorrupt", 1, 3000)
	ctx := context.Background()
	st := store.NewMemory()
	o := fx.origin("o1")
	f := newFetcher(t, st, fx, nil, o)
	if _, err := f.Chunk(ctx, fx.m, 0); err != nil {
		t.Fatal(err)
	}
	var key []byte
	_ = st.Iterate(ctx, []byte("cache/blob/"), false, func(k, v []byte) error { key = append([]byte(nil), k...); return nil })
	if err := st.Set(ctx, key, flip(fx.chunks[0], 5)); err != nil {
		t.Fatal(err)
	}
	got, err := f.Chunk(ctx, fx.m, 0)
	if err != nil || !bytes.Equal(got, fx.chunks[0]) {
		t.Fatalf("got %v, wrong bytes or error", err)
	}
	if n := o.Requests(fx.req(fetch.KindChunk, 0)); n != 2 {
		t.Fatalf("origin asked %d times, want 2 (refetch after corruption)", n)
	}
	stored, _ := st.Get(ctx, key)
	if !bytes.Equal(stored, fx.chunks[0]) {
		t.Fatal("cache not repaired")
	}
}

// gateOrigin blocks every Fetch until release is closed or ctx ends.
type gateOrigin struct {
	inner    fetch.Origin
	release  chan struct{}
	calls    atomic.Int32
	canceled atomic.Int32
}

func (g *gateOrigin) Name() string { return "gate" }

func (g *gateOrigin) Fetch(ctx context.Context, r fetch.Request) ([]byte, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
		return g.inner.Fetch(ctx, r)
	case <-ctx.Done():
		g.canceled.Add(1)
		return nil, ctx.Err()
	}
}

func TestConcurrentRequestsAreCoalesced(t *testing.T) {
	fx := newFixture(t, 8, "trflight", 1, 3000)
	g := &gateOrigin{inner: fx.origin("o1"), release: make(chan struct{})}
	f := newFetcher(t, store.NewMemory(), fx, nil, g)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			b, err := f.Chunk(context.Background(), fx.m, 0)
			if err == nil && !bytes.Equal(b, fx.chunks[0]) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		})
	}
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the other callers join the flight
	close(g.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("origin called %d times, want 1", n)
	}
}

func TestCancellationStopsRequest(t *testing.T) {
	fx := newFixture(t, 9, "trcancel", 1, 3000)
	g := &gateOrigin{inner: fx.origin("o1"), release: make(chan struct{})}
	f := newFetcher(t, store.NewMemory(), fx, nil, g)

	// One caller gives up while another still waits: the fetch goes on.
	ctx1, cancel1 := context.WithCancel(context.Background())
	done1 := make(chan error, 1)
	go func() { _, err := f.Chunk(ctx1, fx.m, 0); done1 <- err }()
	for g.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan error, 1)
	go func() { _, err := f.Chunk(ctx2, fx.m, 0); done2 <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel1()
	if err := <-done1; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v", err)
	}
	if g.canceled.Load() != 0 {
		t.Fatal("origin request cancelled while a caller still waits")
	}
	// The last caller gives up: the origin request is cancelled.
	cancel2()
	if err := <-done2; !errors.Is(err, context.Canceled) {
		t.Fatalf("second caller: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.canceled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("origin request not cancelled")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestChunkIndexOutOfRange(t *testing.T) {
	fx := newFixture(t, 10, "trrange", 2, 1000)
	f := newFetcher(t, store.NewMemory(), fx, nil, fx.origin("o1"))
	for _, i := range []int{-1, 2, 1 << 30} {
		if _, err := f.Chunk(context.Background(), fx.m, i); !errors.Is(err, fetch.ErrChunkRange) {
			t.Errorf("chunk %d: %v", i, err)
		}
	}
}

// FuzzOriginAnswers feeds arbitrary origin answers for a manifest and a
// chunk: the fetcher must never panic, never accept bytes that do not
// verify, and never cache them.
func FuzzOriginAnswers(f *testing.F) {
	fx := newFixture(f, 11, "trfuzz", 1, 500)
	f.Add(fx.env, fx.chunks[0])
	f.Add(fx.env[:len(fx.env)/2], fx.chunks[0][:10])
	f.Add(flip(fx.env, 3), flip(fx.chunks[0], 3))
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, env, chunk []byte) {
		o := fetch.NewMemoryOrigin("fuzz")
		o.Put(fx.req(fetch.KindManifest, 0), env)
		o.Put(fx.req(fetch.KindChunk, 0), chunk)
		st := store.NewMemory()
		fe := newFetcher(t, st, fx, nil, o)
		ctx := context.Background()
		m, err := fe.Manifest(ctx, fx.m.TrackID, fx.m.Tier)
		if err == nil {
			if !bytes.Equal(env, fx.env) {
				// Another encoding that verifies must describe the same stream.
				if m.TrackID != fx.m.TrackID || len(m.Chunks) != len(fx.m.Chunks) || m.Chunks[0].Blob != fx.m.Chunks[0].Blob {
					t.Fatalf("accepted a different manifest: %+v", m)
				}
			}
		} else if !errors.Is(err, fetch.ErrIntegrity) && !errors.Is(err, fetch.ErrTooLarge) {
			t.Fatalf("manifest error %v is not an integrity error", err)
		}
		b, err := fe.Chunk(ctx, fx.m, 0)
		if err == nil && !bytes.Equal(b, fx.chunks[0]) {
			t.Fatal("accepted a tampered chunk")
		}
		if err != nil && bytes.Equal(chunk, fx.chunks[0]) {
			t.Fatalf("rejected the real chunk: %v", err)
		}
		if err != nil {
			if blobs, _ := fe.CacheStats(); blobs != 0 {
				t.Fatal("cached a rejected chunk")
			}
		}
	})
}

func ExampleFetcher() {
	ctx := context.Background()
	// A signed stream served by an in-memory origin; in an app the origins
	// are fetch.NewHTTPOrigin relays.
	fx, err := buildFixture(42, "trexample", 2, 1000)
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := fetch.New(ctx, store.NewMemory(), []fetch.Origin{fx.origin("primary")}, fx.keyFunc(),
		fetch.DefaultOptions().WithCacheBytes(1<<20).WithLogger(quietLogger()))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, err := f.Manifest(ctx, "trexample", model.TierHigh)
	if err != nil {
		fmt.Println(err)
		return
	}
	enc, err := f.Chunk(ctx, m, 1) // verified against m, still encrypted
	fmt.Println(len(m.Chunks), len(enc), err)
	blobs, _ := f.CacheStats()
	fmt.Println("cached blobs:", blobs)
	// Output:
	// 2 1001 <nil>
	// cached blobs: 1
}

func TestManifestAndPrefetch(t *testing.T) {
	fx := newFixture(t, 12, "trprefetch", 4, 2000)
	ctx := context.Background()
	tests := []struct {
		name       string
		tamper     bool
		wantCached []bool // header, chunk 0, chunk 1, chunk 2
	}{
		{"clean", false, []bool{true, true, true, false}},
		{"tampered chunk 0 at primary", true, []bool{true, true, true, false}}, // refetched from o2
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o1, o2 := fx.origin("o1"), fx.origin("o2")
			if tt.tamper {
				o1.Put(fx.posReq(fetch.KindChunk, 0), flip(fx.chunks[0], 9))
				o1.Put(fx.req(fetch.KindChunk, 0), flip(fx.chunks[0], 9))
			}
			rec := &recorder{}
			f := newFetcher(t, store.NewMemory(), fx, rec, o1, o2)
			m, err := f.ManifestAndPrefetch(ctx, fx.m.TrackID, fx.m.Tier, 2)
			if err != nil {
				t.Fatal(err)
			}
			got := []bool{f.Cached(m.Header)}
			for i := range 3 {
				got = append(got, f.Cached(m.Chunks[i].Blob))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.wantCached) {
				t.Fatalf("cached %v, want %v", got, tt.wantCached)
			}
			if fails := rec.failures(); tt.tamper != (len(fails) == 1) {
				t.Fatalf("failures %+v", fails)
			}
			b, err := f.Chunk(ctx, m, 0)
			if err != nil || !bytes.Equal(b, fx.chunks[0]) {
				t.Fatalf("chunk 0 after prefetch: %v", err)
			}
			// Once by the prefetch (positional); a rejected prefetch
			// quarantines the primary and fails over, so chunk 0 comes
			// from o2's positional path, verified, and then from the cache.
			if n := o1.Requests(fx.posReq(fetch.KindChunk, 0)); n != 1 {
				t.Fatalf("primary prefetched chunk 0 %d times", n)
			}
			if n := o1.Requests(fx.req(fetch.KindChunk, 0)) + o2.Requests(fx.req(fetch.KindChunk, 0)); n != 0 {
				t.Fatalf("chunk 0 asked %d times by hash, want 0 (prefetched)", n)
			}
			if n, want := o2.Requests(fx.posReq(fetch.KindChunk, 0)), map[bool]int{true: 1, false: 0}[tt.tamper]; n != want {
				t.Fatalf("secondary prefetched chunk 0 %d times, want %d", n, want)
			}
			// A second call finds the manifest cached and prefetches nothing.
			if _, err := f.ManifestAndPrefetch(ctx, fx.m.TrackID, fx.m.Tier, 2); err != nil {
				t.Fatal(err)
			}
			n := 0 // the prefetch may reach o2 first if o1 was quarantined by chunk 0 already
			for _, o := range []*fetch.MemoryOrigin{o1, o2} {
				n += o.Requests(fx.posReq(fetch.KindHeader, 0)) + o.Requests(fx.req(fetch.KindHeader, 0))
			}
			if n != 1 {
				t.Fatalf("header requested %d times", n)
			}
		})
	}
}

// TestCacheShrinksToNewBound: a cache opened with a smaller bound than
// the blobs it holds (an app lowering its cache size, or turning the
// cache off with 0) evicts its least recently used blobs at once, down
// to the bound, from the store too. It used to keep them until later
// insertions made room — never, when the bound was below one blob,
// since such a blob is not cached and evicts nothing.
func TestCacheShrinksToNewBound(t *testing.T) {
	fx := newFixture(t, 7, "trshrink", 6, 10000) // chunk i is 10000+i bytes
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		bound int64
		kept  []bool // chunk i still cached
	}{
		{"smaller", 30100, []bool{false, false, false, true, true, true}},
		{"below one blob", 5000, []bool{false, false, false, false, false, false}},
		{"zero", 0, []bool{false, false, false, false, false, false}},
		{"negative", -1, []bool{false, false, false, false, false, false}},
		{"larger", 1 << 20, []bool{true, true, true, true, true, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.NewMemory()
			mk := func(bound int64) *fetch.Fetcher {
				f, err := fetch.New(ctx, st, []fetch.Origin{fx.origin("o1")}, fx.keyFunc(), fetch.DefaultOptions().WithCacheBytes(bound).WithLogger(quietLogger()))
				if err != nil {
					t.Fatal(err)
				}
				return f
			}
			f := mk(1 << 20)
			for i := range 6 {
				if _, err := f.Chunk(ctx, fx.m, i); err != nil {
					t.Fatalf("chunk %d: %v", i, err)
				}
			}
			if err := f.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			// Opened again twice: the second sees what the first left in
			// the store.
			for range 2 {
				f = mk(tc.bound)
				if blobs, size := f.CacheStats(); size > max(tc.bound, 0) {
					t.Errorf("bound %d: the cache holds %d blobs, %d bytes", tc.bound, blobs, size)
				}
				for i, want := range tc.kept {
					if got := f.Cached(fx.m.Chunks[i].Blob); got != want {
						t.Errorf("bound %d: chunk %d cached = %v, want %v", tc.bound, i, got, want)
					}
				}
			}
			var left int
			if err := st.Iterate(ctx, []byte("cache/"), true, func(k, _ []byte) error { left++; return nil }); err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, k := range tc.kept {
				if k {
					want += 2 // the blob and its recency key
				}
			}
			if left != want {
				t.Errorf("bound %d: %d cache keys left in the store, want %d", tc.bound, left, want)
			}
		})
	}
}
