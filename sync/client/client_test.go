package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// fakeClock is a settable clock; sleeping advances it and yields.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Sleep advances the fake clock by d and waits a real millisecond so the
// reconnect loop does not spin.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	select {
	case <-time.After(time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// relayProc is a relay sync endpoint over a Badger data dir that can be
// stopped and restarted on the same dir and address.
type relayProc struct {
	t    *testing.T
	dir  string
	addr string
	stop func()
}

func (r *relayProc) start() {
	t := r.t
	st, err := badgerstore.Open(context.Background(), r.dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(context.Background(), st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ep := relaysync.New(peer.NewRepoAdapter(rp), st, peer.DocumentAccess, relaysync.DefaultOptions().
		WithPeerID("relay-test").
		WithAuthenticator(bearerUser))
	addr := r.addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	for range 50 { // the old socket may linger for a moment
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	srv := &http.Server{Handler: ep}
	go srv.Serve(ln)
	r.stop = func() {
		srv.Close()
		rp.Close()
		st.Close()
	}
}

type dev struct {
	repo *repo.Repo
	c    *client.Client
}

func newDev(t *testing.T, ctx context.Context, name string, url string, clk *fakeClock) *dev {
	t.Helper()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := repo.Open(ctx, st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	c := client.New(peer.NewRepoAdapter(r), client.WebSocket{URL: url, Token: "alice", Compression: true},
		client.DefaultOptions().WithIdentity(name, name+"-store").
			WithBackoff(10*time.Millisecond, 50*time.Millisecond, 3).WithClock(clk.Now, clk.Sleep))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); c.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &dev{repo: r, c: c}
}

func entries(t *testing.T, r *repo.Repo, id docs.DocumentID) []model.TrackID {
	t.Helper()
	h, err := r.Get(context.Background(), id)
	if err != nil || h.Empty() {
		return nil
	}
	var out []model.TrackID
	if err := h.ReadPlaylist(func(p *docs.Playlist) error {
		es, err := p.Entries()
		for _, e := range es {
			out = append(out, e.Track)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func add(t *testing.T, r *repo.Repo, id docs.DocumentID, tr model.TrackID) {
	t.Helper()
	h, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(context.Background(), func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), "alice", tr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func converge(t *testing.T, what string, a, b *dev, id docs.DocumentID, n int) []model.TrackID {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ea, eb := entries(t, a.repo, id), entries(t, b.repo, id)
		if len(ea) == n && slices.Equal(ea, eb) {
			return ea
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no convergence: %v vs %v", what, ea, eb)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestReconnectResume: two devices of one user sync through a relay;
// the relay stops, both edit offline, the relay restarts on the same
// data dir and both converge, resuming from persisted sync states. Then
// "a month later" (fake clock advanced 30 days) the same again.
func TestReconnectResume(t *testing.T) {
	ctx := t.Context()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rel := &relayProc{t: t, dir: t.TempDir()}
	rel.start()
	t.Cleanup(func() { rel.stop() })
	url := "ws://" + rel.addr + "/v1/sync"
	a, b := newDev(t, ctx, "phone", url, clk), newDev(t, ctx, "laptop", url, clk)

	h, err := a.repo.CreatePlaylist(ctx, "alice", "offline")
	if err != nil {
		t.Fatal(err)
	}
	id := h.ID()
	add(t, a.repo, id, "t0")
	b.c.Want(id)
	converge(t, "initial", a, b, id, 1)

	total := 1
	for round, skip := range []time.Duration{time.Minute, 30 * 24 * time.Hour} {
		rel.stop()
		clk.Advance(skip)
		for i := range 3 {
			add(t, a.repo, id, model.TrackID(rune('a'+round))+"-phone-"+model.TrackID(rune('0'+i)))
			add(t, b.repo, id, model.TrackID(rune('a'+round))+"-laptop-"+model.TrackID(rune('0'+i)))
		}
		total += 6
		if got := entries(t, a.repo, id); len(got) != total-3 {
			t.Fatalf("round %d: phone has %d entries offline", round, len(got))
		}
		rel.start()
		converge(t, "after restart", a, b, id, total)
		for _, d := range []*dev{a, b} {
			st := d.c.Status()
			if !st.Connected || st.LastSync.Before(clk.Now().Add(-skip)) {
				t.Fatalf("round %d: status %+v at %v", round, st, clk.Now())
			}
			ss, err := d.repo.SyncState(ctx, "relay-test", id)
			if err != nil || ss == nil {
				t.Fatalf("round %d: no persisted sync state with the relay (%v)", round, err)
			}
		}
	}
}

// TestPublishActivityNeedsRelayFeature: a relay whose handshake does not
// announce wire.FeatureActivityPublish (here: one without an activity
// source, as an older relay) gets no publication on the sync connection;
// PublishActivity says ErrUnsupported, so the engine posts over HTTP.
func TestPublishActivityNeedsRelayFeature(t *testing.T) {
	ctx := t.Context()
	clk := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	rel := &relayProc{t: t, dir: t.TempDir()}
	rel.start()
	t.Cleanup(func() { rel.stop() })
	if err := newDev(t, ctx, "phone", "", clk).c.PublishActivity(ctx, wire.ActivityPublish{Track: "t1"}); !errors.Is(err, client.ErrDisconnected) {
		t.Fatalf("without a connection: %v, want ErrDisconnected", err)
	}
	d := newDev(t, ctx, "laptop", "ws://"+rel.addr+"/v1/sync", clk)
	deadline := time.Now().Add(20 * time.Second)
	for !d.c.Status().Connected {
		if time.Now().After(deadline) {
			t.Fatal("never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.c.PublishActivity(ctx, wire.ActivityPublish{Track: "t1"}); !errors.Is(err, client.ErrUnsupported) {
		t.Fatalf("relay without the feature: %v, want ErrUnsupported", err)
	}
}

// bearerUser authenticates the user named by the request's bearer token,
// as the relay does for native devices.
func bearerUser(r *http.Request) (model.UserID, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return "", relaysync.ErrUnauthenticated
	}
	return model.UserID(tok), nil
}

// TestWebSocketTokenNotInURL: the device token travels in the
// Authorization header, never in the URL, and a failed dial's error does
// not repeat it.
func TestWebSocketTokenNotInURL(t *testing.T) {
	const tok = "s3cret-device-token"
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	defer srv.Close()
	_, _, err := client.WebSocket{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync", Token: tok}.Dial(t.Context())
	if !errors.Is(err, client.ErrUnauthorized) {
		t.Fatalf("dial: %v, want ErrUnauthorized", err)
	}
	r := <-got
	if h := r.Header.Get("Authorization"); h != "Bearer "+tok {
		t.Errorf("Authorization = %q, want the bearer token", h)
	}
	if strings.Contains(r.URL.String(), tok) {
		t.Errorf("token in the request URL %q", r.URL)
	}
	if strings.Contains(err.Error(), tok) {
		t.Errorf("token in the error %q", err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	_, _, err = client.WebSocket{URL: "ws://" + down + "/v1/sync", Token: tok}.Dial(t.Context())
	if err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	if strings.Contains(err.Error(), tok) {
		t.Errorf("token in the error %q", err)
	}
}
