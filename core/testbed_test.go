package core_test

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
)

// testbed is a real relay on 127.0.0.1 over Badger in a temp dir, serving
// the demo album (internal/testbed), plus an optional tampering front for it.
type testbed struct {
	url        string // the relay itself
	catalogPub ed25519.PublicKey
	tracks     []model.TrackID
	originals  map[string][]byte // "<track>/<tier>" → the encoded Ogg file
	srv        *relay.Server
	relay      *tbed.Relay
}

// testTiers are the tiers the tests stream (the smallest and a middle
// one keep tests quick; the relay serves all four).
var testTiers = []model.Tier{model.TierLow, model.TierHigh}

const (
	testUser = "ada"
	testPass = tbed.Password
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newTestbed starts a relay serving the demo album (accounts are created
// by openEngine). The relay stops at the end of the test (or with tb.stop).
func newTestbed(t testing.TB) *testbed {
	t.Helper()
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	tb := &testbed{url: r.URL, catalogPub: r.CatalogKey, tracks: r.Tracks, originals: map[string][]byte{},
		srv: r.Server(), relay: r}
	for _, id := range r.Tracks {
		for _, tier := range testTiers {
			b, err := r.Encoded(id, tier)
			if err != nil {
				t.Fatal(err)
			}
			tb.originals[string(id)+"/"+string(tier)] = b
		}
	}
	return tb
}

// stop shuts the relay down (idempotent).
func (tb *testbed) stop() { tb.relay.Stop() }

// openEngine opens an engine in a temp dir on the given origins and
// registers it (signing up first).
func (tb *testbed) openEngine(t testing.TB, opts core.Options, origins ...string) *core.Engine {
	t.Helper()
	e := tbed.Engine(t, opts.WithOrigins(origins...))
	tbed.Register(t, e, testUser, "test device")
	return e
}

func isConflict(err error) bool { return tbed.IsConflict(err) }

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
