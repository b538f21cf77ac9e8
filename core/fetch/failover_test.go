package fetch_test

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/store"
)

// faultProxy is a loopback proxy in front of a relay that misbehaves in
// one way: "stall" sends half the body and then hangs, "corrupt" flips a
// byte of every body, "5xx" answers 503. It counts the requests it gets.
type faultProxy struct {
	target string
	mode   string
	hits   atomic.Int64
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.hits.Add(1)
	if p.mode == "5xx" {
		http.Error(w, `{"error":"overloaded"}`, http.StatusServiceUnavailable)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, p.target+r.URL.RequestURI(), nil)
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	w.Header().Set("Content-Length", resp.Header.Get("Content-Length"))
	w.WriteHeader(resp.StatusCode)
	switch p.mode {
	case "stall":
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case "corrupt":
		body[len(body)/2] ^= 1
		w.Write(body)
	}
}

// refusedURL returns an http URL on loopback where nothing listens.
func refusedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// TestFailoverFromFaultyOrigin puts a faulty primary (refused, stalling
// mid-body, corrupt, 5xx) in front of a real relay as the secondary: every
// object of a track arrives verified, none later than 2 s after it was
// asked for, and once the primary failed the next track does not touch it
// (origin health is remembered) and pays no timeout.
func TestFailoverFromFaultyOrigin(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	tok := testbed.Device(t, r, "alice").Token()
	token := func() string { return tok }
	key := func(context.Context) (ed25519.PublicKey, error) { return r.CatalogKey, nil }
	secondary, err := fetch.NewHTTPOrigin(r.URL, nil, token)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"refused", "stall", "corrupt", "5xx"} {
		t.Run(mode, func(t *testing.T) {
			p := &faultProxy{target: r.URL, mode: mode}
			url := refusedURL(t)
			if mode != "refused" {
				srv := httptest.NewServer(p)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			primary, err := fetch.NewHTTPOrigin(url, nil, token)
			if err != nil {
				t.Fatal(err)
			}
			var primaryTries atomic.Int64 // attempts at the primary, seen by the observer
			observe := func(e fetch.Event) {
				if e.Origin == primary.Name() {
					primaryTries.Add(1)
				}
			}
			f, err := fetch.New(context.Background(), store.NewMemory(), []fetch.Origin{primary, secondary}, key,
				fetch.DefaultOptions().WithLogger(quietLogger()).WithObserver(observe))

			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			timed := func(what string, fn func() error) time.Duration {
				start := time.Now()
				if err := fn(); err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				d := time.Since(start)
				if d > 2*time.Second {
					t.Errorf("%s took %v, want failover within 2 s", what, d)
				}
				return d
			}
			playTrack := func(track model.TrackID) (worst time.Duration) {
				var m *model.Manifest
				worst = timed("manifest and prefetch", func() (err error) {
					m, err = f.ManifestAndPrefetch(ctx, track, model.TierNormal, 1) // as the engine starts a track
					return err
				})
				worst = max(worst, timed("header", func() error { _, err := f.Header(ctx, m); return err }))
				for i := range m.Chunks {
					worst = max(worst, timed("chunk", func() error { _, err := f.Chunk(ctx, m, i); return err }))
				}
				return worst
			}
			first := playTrack(r.Tracks[0])
			if primaryTries.Load() == 0 {
				t.Fatal("the primary was never tried")
			}
			before, hits := primaryTries.Load(), p.hits.Load()
			next := playTrack(r.Tracks[1])
			t.Logf("%s primary: slowest object %v on the failing-over track, %v on the next", mode, first.Round(time.Millisecond), next.Round(time.Millisecond))
			if next > 500*time.Millisecond {
				t.Errorf("next track: slowest object %v; the quarantined primary should not be waited for", next)
			}
			if n, h := primaryTries.Load()-before, p.hits.Load()-hits; n != 0 || h != 0 {
				t.Errorf("next track tried the failed primary %d times (%d requests reached it), want 0", n, h)
			}
		})
	}
}
