package core_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/relay"
)

// testbed is a real relay on 127.0.0.1 over Badger in a temp dir, serving
// the demo album, plus an optional tampering front for it.
type testbed struct {
	url        string // the relay itself
	catalogPub ed25519.PublicKey
	tracks     []model.TrackID
	originals  map[string][]byte // "<track>/<tier>" → the encoded Ogg file
	srv        *relay.Server
	stopRelay  context.CancelFunc
}

// testTiers are the tiers the tests stream (the smallest and a middle
// one keep tests quick; the relay serves all four).
var testTiers = []model.Tier{model.TierLow, model.TierHigh}

const (
	testUser = "ada"
	testPass = "correct horse battery"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// publishDemo ingests the demo album (pre-encoded tiers, so no encoder
// runs) into the relay data dir with server/ingest.
func publishDemo(ctx context.Context, dir string) (pub ed25519.PublicKey, ids []model.TrackID, originals map[string][]byte, err error) {
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	defer dd.Close()
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		return nil, nil, nil, err
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
	if err != nil {
		return nil, nil, nil, err
	}
	meta, err := demoalbum.Album()
	if err != nil {
		return nil, nil, nil, err
	}
	if len(res.Tracks) != len(meta.Tracks) {
		return nil, nil, nil, fmt.Errorf("ingested %d tracks, album has %d", len(res.Tracks), len(meta.Tracks))
	}
	originals = map[string][]byte{}
	for i, tm := range meta.Tracks {
		id := res.Tracks[i].ID
		ids = append(ids, id)
		for _, tier := range testTiers {
			data, err := demoalbum.FS.ReadFile(path.Join("data", tm.Tiers[tier]))
			if err != nil {
				return nil, nil, nil, err
			}
			originals[string(id)+"/"+string(tier)] = data
		}
	}
	return dd.Signer.Public().(ed25519.PublicKey), ids, originals, nil
}

// newTestbed starts a relay serving the demo album (accounts are created
// by openEngine). The relay stops at the end of the test (or with tb.stop).
func newTestbed(t testing.TB) *testbed {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	pub, ids, originals, err := publishDemo(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := relay.New(ctx, relay.DefaultOptions(dir).WithListen("127.0.0.1:0").
		WithArgonParams(relay.FastArgonParams).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	addr, err := srv.Start(rctx)
	if err != nil {
		t.Fatal(err)
	}
	tb := &testbed{url: "http://" + addr, catalogPub: pub, tracks: ids, originals: originals, srv: srv, stopRelay: cancel}
	t.Cleanup(func() {
		tb.stop()
		srv.Close()
	})
	return tb
}

// stop shuts the relay down (idempotent).
func (tb *testbed) stop() {
	tb.stopRelay()
	tb.srv.Wait()
}

// openEngine opens an engine in a temp dir on the given origins and
// registers it (signing up first).
func (tb *testbed) openEngine(t testing.TB, opts core.Options, origins ...string) *core.Engine {
	t.Helper()
	ctx := context.Background()
	e, err := core.Open(ctx, t.TempDir(), opts.WithOrigins(origins...).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	if err := e.SignUp(ctx, testUser, testPass); err != nil && !isConflict(err) {
		t.Fatal(err)
	}
	if err := e.Register(ctx, testUser, testPass, "test device"); err != nil {
		t.Fatal(err)
	}
	return e
}

func isConflict(err error) bool {
	return bytes.Contains([]byte(err.Error()), []byte("status 409"))
}

// tamperer fronts a handler, corrupting or stalling chosen responses.
type tamperer struct {
	inner http.Handler

	mu      sync.Mutex
	flip    map[string]int  // path → body offset whose byte is flipped
	stall   map[string]bool // path → block until the request is cancelled
	stalled atomic.Int32    // requests cancelled while stalled
}

func newTamperer(inner http.Handler) *tamperer {
	return &tamperer{inner: inner, flip: map[string]int{}, stall: map[string]bool{}}
}

func (tp *tamperer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tp.mu.Lock()
	off, flip := tp.flip[r.URL.Path]
	stall := tp.stall[r.URL.Path]
	tp.mu.Unlock()
	if stall {
		select {
		case <-r.Context().Done():
			tp.stalled.Add(1)
			return
		case <-time.After(30 * time.Second):
			http.Error(w, "stalled", http.StatusGatewayTimeout)
			return
		}
	}
	if !flip {
		tp.inner.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	tp.inner.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	if off < 0 {
		off += len(body)
	}
	if off >= 0 && off < len(body) {
		body[off] ^= 0x01
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// serve starts the tamperer on 127.0.0.1 and returns its URL.
func (tp *tamperer) serve(t testing.TB) (string, func()) {
	s := httptest.NewServer(tp)
	t.Cleanup(s.Close)
	return s.URL, s.Close
}

// chunkPaths returns both paths chunk i is served at: positional (used
// by the prefetch before the manifest is known) and by hash.
func (tb *testbed) chunkPaths(t testing.TB, track model.TrackID, tier model.Tier, i int) []string {
	t.Helper()
	env, err := tb.srv.Catalog().Manifest(context.Background(), track, tier)
	if err != nil {
		t.Fatal(err)
	}
	m, err := crypto.OpenManifest(tb.catalogPub, env)
	if err != nil {
		t.Fatal(err)
	}
	return []string{
		"/v1/audio/" + string(track) + "/" + string(tier) + "/chunks/" + strconv.Itoa(i),
		"/v1/blobs/" + crypto.HashHex(m.Chunks[i].Blob.SHA256),
	}
}
