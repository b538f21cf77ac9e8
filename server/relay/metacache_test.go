package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestMetadataETag checks the cached metadata routes: a strong ETag, the
// same bytes on every answer, and 304 with no body for a matching
// If-None-Match (exact, weak-prefixed, in a list, or *), 200 otherwise.
func TestMetadataETag(t *testing.T) {
	e := startRelay(t, 1, 100)
	for _, path := range []string{"/v1/tracks/tr1", "/v1/albums/al1", "/v1/artists/ar1"} {
		t.Run(path, func(t *testing.T) {
			first := e.do(t, "GET", path, nil, e.token)
			etag := first.header.Get("ETag")
			if first.code != 200 || !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) || len(etag) < 10 {
				t.Fatalf("GET: %d, ETag %q; want 200 and a strong ETag", first.code, etag)
			}
			if ct := first.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			e.srv.WaitMetaCache()
			again := e.do(t, "GET", path, nil, e.token)
			if again.code != 200 || again.header.Get("ETag") != etag || !bytes.Equal(again.body, first.body) {
				t.Fatalf("second GET: %d, ETag %q, body %q; want the first answer again", again.code, again.header.Get("ETag"), again.body)
			}
			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				r := e.do(t, "GET", path, nil, e.token, "If-None-Match", inm)
				if r.code != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != etag {
					t.Errorf("If-None-Match %s: %d, %d bytes, ETag %q; want 304, no body, the ETag", inm, r.code, len(r.body), r.header.Get("ETag"))
				}
			}
			for _, inm := range []string{`"other"`, strings.TrimSuffix(etag, `"`) + `x"`} {
				if r := e.do(t, "GET", path, nil, e.token, "If-None-Match", inm); r.code != 200 || !bytes.Equal(r.body, first.body) {
					t.Errorf("If-None-Match %s: %d; want 200 and the body", inm, r.code)
				}
			}
			if r := e.do(t, "GET", path, nil, "", "If-None-Match", etag); r.code != http.StatusUnauthorized {
				t.Errorf("without a token: %d, want 401", r.code)
			}
		})
	}
	if r := e.do(t, "GET", "/v1/tracks/al1", nil, e.token); r.code != 404 {
		t.Errorf("an album id as a track: %d, want 404", r.code)
	}
}

// TestMetadataCacheInvalidatedOnPublish caches a track, its album and its
// artist, re-publishes the release with a new title and names through the
// relay's catalog (as ingest does), and expects the new metadata at once,
// under a new ETag; the old ETag no longer gets a 304.
func TestMetadataCacheInvalidatedOnPublish(t *testing.T) {
	e := startRelay(t, 1, 100)
	paths := []string{"/v1/tracks/tr1", "/v1/albums/al1", "/v1/artists/ar1"}
	etags := map[string]string{}
	for _, p := range paths {
		r := e.do(t, "GET", p, nil, e.token)
		if r.code != 200 {
			t.Fatalf("GET %s: %d", p, r.code)
		}
		etags[p] = r.header.Get("ETag")
	}
	e.srv.WaitMetaCache()

	ctx := context.Background()
	cat := e.srv.Catalog()
	env, err := cat.Manifest(ctx, "tr1", e.pub.tier)
	if err != nil {
		t.Fatal(err)
	}
	tr, al, ar := e.pub.track, e.pub.album, e.pub.artist
	tr.Title, al.Title, ar.Name = "Test Tone (remastered)", "Tests (deluxe)", "The Testers, remastered"
	err = cat.Publish(ctx, catalog.Release{Album: al, Artists: []model.Artist{ar},
		Tracks: []catalog.TrackRelease{{Track: tr, Streams: []catalog.Stream{{Tier: e.pub.tier, Envelope: env, Key: e.pub.key}}}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{paths[0]: tr.Title, paths[1]: al.Title, paths[2]: ar.Name}
	for _, p := range paths {
		r := e.do(t, "GET", p, nil, e.token, "If-None-Match", etags[p])
		if r.code != 200 || !bytes.Contains(r.body, []byte(want[p])) {
			t.Fatalf("GET %s after re-publish: %d %s; want 200 with %q", p, r.code, r.body, want[p])
		}
		if r.header.Get("ETag") == etags[p] {
			t.Errorf("GET %s: ETag unchanged by the re-publish", p)
		}
	}
	var got model.Track
	e.do(t, "GET", paths[0], nil, e.token).json(t, &got)
	if got.Title != tr.Title {
		t.Fatalf("track title %q, want %q", got.Title, tr.Title)
	}
}

// lockedBuffer is a bytes.Buffer for a logger and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestClientGoneIsNotAServerError abandons a request while the handler
// waits on its context: the relay logs it at debug level with status 499
// (no ERROR record, no 500) and counts it under code 499.
func TestClientGoneIsNotAServerError(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	started := make(chan struct{}, 1)
	e := startRelay(t, 1, 100, func(o relay.Options) relay.Options { return o.WithLogger(log) })
	e.srv.Mount(func(v1 *relay.DeviceRoutes) {
		v1.GET("/test/wait", func(c echo.Context) error {
			started <- struct{}{}
			<-c.Request().Context().Done()
			return c.Request().Context().Err()
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", e.base+"/v1/test/wait", nil)
	req.Header.Set("Authorization", "Bearer "+e.token)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-started
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("client: %v, want context canceled", err)
	}
	var rec map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for rec == nil && time.Now().Before(deadline) {
		for _, line := range strings.Split(logs.String(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "http" && m["route"] == "/v1/test/wait" {
				rec = m
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if rec == nil {
		t.Fatalf("no access log record for the abandoned request:\n%s", logs.String())
	}
	if rec["level"] != "DEBUG" || rec["status"] != float64(499) {
		t.Errorf("access log record %v; want level DEBUG, status 499", rec)
	}
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("an abandoned request logged an error:\n%s", logs.String())
	}
	m := e.do(t, "GET", "/metrics", nil, adminToken)
	if !bytes.Contains(m.body, []byte(`segue_relay_http_requests_total{code="499",method="GET",route="/v1/test/wait"} 1`)) {
		t.Errorf("metrics lack the 499:\n%s", m.body)
	}
}

// discardWriter is an http.ResponseWriter that keeps one header map and
// drops the body, so a benchmark counts only the relay's allocations.
type discardWriter struct {
	h      http.Header
	code   int
	copied int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.copied += len(p); return len(p), nil }

// BenchmarkTrackMetadata serves GET /v1/tracks/{id} from the cache
// in-process (no network), with and without a matching If-None-Match:
// allocs/op is the relay's own per-request allocation (router, token
// check, metrics, cache hit, write). The noauth cases serve the same
// handler on a route without the token check, to show what the cached
// path itself costs.
func BenchmarkTrackMetadata(b *testing.B) {
	e := startRelay(b, 1, 100)
	h := e.srv.Handler()
	e.srv.Echo().GET("/bench/tracks/:id", e.srv.TrackHandler())
	first := e.do(b, "GET", "/v1/tracks/tr1", nil, e.token)
	e.srv.WaitMetaCache()
	for _, tc := range []struct {
		name, path, inm string
		code            int
	}{
		{"200", "/v1/tracks/tr1", "", 200}, {"304", "/v1/tracks/tr1", first.header.Get("ETag"), 304},
		{"noauth-200", "/bench/tracks/tr1", "", 200}, {"noauth-304", "/bench/tracks/tr1", first.header.Get("ETag"), 304},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.token)
			if tc.inm != "" {
				req.Header.Set("If-None-Match", tc.inm)
			}
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				w.code = 0
				h.ServeHTTP(w, req)
				if w.code != tc.code {
					b.Fatalf("status %d, want %d", w.code, tc.code)
				}
			}
		})
	}
}

// TestAccessLogSamplesReads sends 2,048 reads and 3 sign-ups: at info
// level the access log holds exactly 2 of the reads (one in 1,024) and
// every sign-up.
func TestAccessLogSamplesReads(t *testing.T) {
	var logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := startRelay(t, 1, 100, func(o relay.Options) relay.Options { return o.WithLogger(log) })
	h := e.srv.Handler()
	for range 2048 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/healthz", nil))
		if w.Code != 200 {
			t.Fatalf("healthz: %d", w.Code)
		}
	}
	for i := range 3 {
		body := fmt.Sprintf(`{"username":"user%d","password":"a long password"}`, i)
		if r := e.do(t, "POST", "/v1/accounts", body, ""); r.code != 201 {
			t.Fatalf("sign up: %d %s", r.code, r.body)
		}
	}
	out := logs.String()
	if n := strings.Count(out, "msg=http method=GET route=/healthz"); n != 2 {
		t.Errorf("%d info records of 2,048 reads, want 2", n)
	}
	if n := strings.Count(out, "msg=http method=POST route=/v1/accounts status=201"); n != 4 { // ada's and 3 more
		t.Errorf("%d info records of 4 sign-ups, want 4:\n%s", n, out)
	}
}

// TestSyncMetrics: the sync repository's counters, the relay-wide
// limits' (sync connections, requests in flight) and, where glibc
// reports it, the C heap are on /metrics.
func TestSyncMetrics(t *testing.T) {
	e := startRelay(t, 1, 1000)
	m := e.do(t, "GET", "/metrics", nil, adminToken)
	names := []string{"segue_sync_commit_batches_total", "segue_sync_commit_writes_total", "segue_sync_commit_wait_seconds_total",
		"segue_sync_commit_busy_seconds_total", "segue_sync_generate_skipped_total", "segue_sync_notifications_total",
		"segue_sync_spill_live_bytes", "segue_sync_spill_reads_total", "segue_sync_spill_errors_total",
		"segue_sync_connections", "segue_sync_connections_refused_total",
		"segue_relay_requests_in_flight", "segue_relay_requests_refused_in_flight_total"}
	if cmem.Supported() {
		names = append(names, "segue_cmem_in_use_bytes", "segue_cmem_free_bytes", "segue_cmem_mapped_bytes")
	}
	for _, name := range names {
		if !bytes.Contains(m.body, []byte("\n"+name+" ")) {
			t.Errorf("metrics lack %s:\n%s", name, m.body)
		}
	}
}

// TestSyncSpillOff: WithSyncSpill(false) opens no spill file (its
// metrics are absent); with it on (the default, TestSyncMetrics) the
// file leaves nothing in the data directory, as it is unlinked at once.
func TestSyncSpillOff(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(strconv.FormatBool(on), func(t *testing.T) {
			e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithSyncSpill(on) })
			m := e.do(t, "GET", "/metrics", nil, adminToken)
			if got := bytes.Contains(m.body, []byte("\nsegue_sync_spill_live_bytes ")); got != on {
				t.Errorf("spill metrics present: %v, want %v", got, on)
			}
			err := filepath.WalkDir(e.tb.DataDir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && strings.Contains(d.Name(), "spill") {
					t.Errorf("data directory holds %s", path)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSyncLoadedDocs: WithSyncLoadedDocs reaches the sync repository (its
// budget is on /metrics), the default is DefaultSyncLoadedDocs, and values
// outside MinSyncLoadedDocs…MaxSyncLoadedDocs are clamped.
func TestSyncLoadedDocs(t *testing.T) {
	for _, c := range []struct {
		set  int // 0: the default
		want int
	}{
		{0, relay.DefaultSyncLoadedDocs},
		{256, 256},
		{1, relay.MinSyncLoadedDocs},
		{relay.MaxSyncLoadedDocs + 1, relay.MaxSyncLoadedDocs},
	} {
		t.Run(strconv.Itoa(c.set), func(t *testing.T) {
			e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
				if c.set != 0 {
					o = o.WithSyncLoadedDocs(c.set)
				}
				return o
			})
			m := e.do(t, "GET", "/metrics", nil, adminToken)
			// The text format writes floats as strconv does (1.048576e+06).
			want := "\nsegue_sync_documents_loaded_budget " + strconv.FormatFloat(float64(c.want), 'g', -1, 64) + "\n"
			if !bytes.Contains(m.body, []byte(want)) {
				t.Errorf("metrics lack %q", strings.TrimSpace(want))
			}
		})
	}
}
