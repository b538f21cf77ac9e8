package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestReconnectHonoursRetryAfter: the relay refuses the sync connection
// before the upgrade (503 Retry-After: 7, then 429 with a Retry-After of
// days, then 503 with a malformed one), then accepts. Each wait before
// the next dial is at least the relay's Retry-After, capped at
// MaxRetryAfter, plus at most the first backoff; the malformed one waits
// the backoff alone; the client then connects.
func TestReconnectHonoursRetryAfter(t *testing.T) {
	ctx := t.Context()
	rel := &relayProc{t: t, dir: t.TempDir()}
	rel.start()
	t.Cleanup(func() { rel.stop() })
	target, err := url.Parse("http://" + rel.addr)
	if err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		code  int
		after string
	}{{http.StatusServiceUnavailable, "7"}, {http.StatusTooManyRequests, "864000"}, {http.StatusServiceUnavailable, "soon"}}
	var mu sync.Mutex
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		var next *struct {
			code  int
			after string
		}
		if len(refusals) > 0 {
			next = &refusals[0]
			refusals = refusals[1:]
		}
		mu.Unlock()
		if next != nil {
			w.Header().Set("Retry-After", next.after)
			http.Error(w, `{"error":"relaysync: busy"}`, next.code)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	rp := diskRepo(t)
	const minBackoff = 10 * time.Millisecond
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var waits []time.Duration
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		clk.Advance(d)
		return ctx.Err()
	}
	c := client.New(peer.NewRepoAdapter(rp), client.WebSocket{URL: "ws" + srv.URL[len("http"):] + "/v1/sync", Token: "alice"},
		client.DefaultOptions().WithBackoff(minBackoff, 50*time.Millisecond, 3).WithClock(clk.Now, sleep))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Connecting notifies nothing (an empty repository syncs nothing):
	// poll the status.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(20 * time.Second)
	for !c.Status().Connected {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("never connected; status %+v", c.Status())
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(waits) != 3 {
		t.Fatalf("waits %v, want 3", waits)
	}
	for i, w := range []struct{ lo, hi time.Duration }{
		{7 * time.Second, 7*time.Second + minBackoff},
		{client.MaxRetryAfter, client.MaxRetryAfter + minBackoff},
		{time.Nanosecond, 50 * time.Millisecond},
	} {
		if waits[i] < w.lo || waits[i] > w.hi {
			t.Errorf("wait %d = %v, want in [%v, %v]", i, waits[i], w.lo, w.hi)
		}
	}
}

// TestDialRefusalIsRetryLater: the relay's 429/503 before the upgrade is
// ErrRetryLater with its wait; a 500 is not.
func TestDialRefusalIsRetryLater(t *testing.T) {
	for _, tc := range []struct {
		code  int
		retry bool
	}{{http.StatusTooManyRequests, true}, {http.StatusServiceUnavailable, true}, {http.StatusInternalServerError, false}} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "10")
			http.Error(w, `{"error":"relaysync: too many sessions, retry in 10 s"}`, tc.code)
		}))
		_, _, err := client.WebSocket{URL: "ws" + srv.URL[len("http"):], Token: "t"}.Dial(t.Context())
		srv.Close()
		if got := errors.Is(err, client.ErrRetryLater); got != tc.retry {
			t.Errorf("status %d: %v; ErrRetryLater %v, want %v", tc.code, err, got, tc.retry)
		}
	}
}

// TestTryAgainLaterKeepsBackoff: a relay that completes the handshake and
// then closes the connection with 1013 (try again later: its disk is
// full) or 1011 (an internal failure, relaysync.ErrInternal) does not reset the client's backoff, so the waits before the
// next dials grow up to the largest backoff. Before, each such connection
// counted as a success and every wait was at most the first backoff: the
// device sent its changes again up to twice a second for as long as the
// disk stayed full.
func TestTryAgainLaterKeepsBackoff(t *testing.T) {
	for _, tc := range []struct {
		code   websocket.StatusCode
		reason string
	}{
		{websocket.StatusTryAgainLater, "relaysync: storage full, nothing stored; try again later"},
		{websocket.StatusInternalError, "relaysync: internal error; try again later"},
	} {
		t.Run(tc.code.String(), func(t *testing.T) { closedKeepsBackoff(t, tc.code, tc.reason) })
	}
}

// closedKeepsBackoff runs TestTryAgainLaterKeepsBackoff with a relay that
// closes every connection with code and reason.
func closedKeepsBackoff(t *testing.T, code websocket.StatusCode, reason string) {
	ctx := t.Context()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		if _, err := peer.ServerHandshake(r.Context(), peer.NewWSConn(c, 0), "relay", wire.PeerMetadata{StorageID: "relay"}); err != nil {
			return
		}
		c.Close(code, reason)
	}))
	t.Cleanup(srv.Close)
	rp := diskRepo(t)
	const minBackoff, maxBackoff, dials = 10 * time.Millisecond, 640 * time.Millisecond, 10
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	var waits []time.Duration
	runCtx, cancel := context.WithCancel(ctx)
	sleep := func(ctx context.Context, d time.Duration) error {
		if waits = append(waits, d); len(waits) == dials {
			cancel()
		}
		clk.Advance(d)
		return ctx.Err()
	}
	c := client.New(peer.NewRepoAdapter(rp), client.WebSocket{URL: "ws" + srv.URL[len("http"):] + "/v1/sync", Token: "alice"},
		client.DefaultOptions().WithBackoff(minBackoff, maxBackoff, 3).WithClock(clk.Now, sleep))
	if err := c.Run(runCtx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if len(waits) != dials {
		t.Fatalf("waits %v, want %d", waits, dials)
	}
	if longest := slices.Max(waits); longest <= 2*minBackoff {
		t.Fatalf("waits %v: none longer than %v, want the backoff to grow", waits, 2*minBackoff)
	}
	if last := c.Status().LastError; !strings.Contains(last, code.String()) {
		t.Fatalf("last error %q, want the relay's %v", last, code)
	}
}

// diskRepo opens a repository over a Badger store in a temporary
// directory, both closed at the end of the test.
func diskRepo(t *testing.T) *repo.Repo {
	t.Helper()
	st, err := badgerstore.Open(t.Context(), t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	rp, err := repo.Open(t.Context(), st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rp.Close() })
	return rp
}
