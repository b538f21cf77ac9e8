package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
)

// origin is a loopback proxy in front of a real relay that counts the
// audio requests reaching the relay and can corrupt or delay them.
type origin struct {
	url     string
	target  string
	counts  sync.Map // path → *atomic.Int64
	corrupt atomic.Bool
	delay   atomic.Int64 // nanoseconds before answering an audio request
	// hold, when set, is received from before an audio request is passed
	// on; arrived gets a value as each such request arrives.
	hold    atomic.Pointer[chan struct{}]
	arrived chan string
}

func newOrigin(t *testing.T, target string) *origin {
	o := &origin{target: target, arrived: make(chan string, 64)}
	srv := httptest.NewServer(http.HandlerFunc(o.serve))
	t.Cleanup(srv.Close)
	o.url = srv.URL
	return o
}

func (o *origin) serve(w http.ResponseWriter, r *http.Request) {
	audio := strings.HasPrefix(r.URL.Path, "/v1/blobs/") || strings.HasPrefix(r.URL.Path, "/v1/audio/")
	if audio {
		n, _ := o.counts.LoadOrStore(r.URL.Path, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		time.Sleep(time.Duration(o.delay.Load()))
		if h := o.hold.Load(); h != nil {
			o.arrived <- r.URL.Path
			<-*h
		}
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, o.target+r.URL.RequestURI(), nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if audio && o.corrupt.Load() && len(body) > 0 {
		body[len(body)/2] ^= 1
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	w.Write(body)
}

// count returns how many requests for path reached the relay.
func (o *origin) count(path string) int64 {
	n, ok := o.counts.Load(path)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// blobFetches returns how many requests for anything but a manifest
// reached the relay.
func (o *origin) blobFetches() int64 {
	var n int64
	o.counts.Range(func(k, v any) bool {
		if !strings.HasSuffix(k.(string), "/manifest") {
			n += v.(*atomic.Int64).Load()
		}
		return true
	})
	return n
}

// fixture is a relay, a counting origin proxy in front of it, and a token.
type fixture struct {
	relay  *testbed.Relay
	origin *origin
	token  string
	device model.DeviceID // the token's device
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	dev := testbed.Device(t, r, "alice")
	return &fixture{relay: r, origin: newOrigin(t, r.URL), token: dev.Token(), device: dev.DeviceID()}
}

// startEdge starts an edge with opts on loopback.
func startEdge(t *testing.T, opts Options) (*Edge, string) {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close() })
	return e, srv.URL
}

// get sends GET base+path with tok (none when empty) and extra headers.
func get(t *testing.T, base, path, tok string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// blobPaths returns the /v1/blobs paths of every header and chunk of the
// demo album's tracks in tier, with their bytes, read from the relay.
func (f *fixture) blobPaths(t *testing.T, tier model.Tier) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, tr := range f.relay.Tracks {
		base := "/v1/audio/" + string(tr) + "/" + string(tier)
		for _, p := range []string{"/header", "/chunks/0", "/chunks/1"} {
			resp, b := get(t, f.relay.URL, base+p, f.token)
			if resp.StatusCode != http.StatusOK {
				continue
			}
			h := sha256.Sum256(b)
			out["/v1/blobs/"+hex.EncodeToString(h[:])] = b
		}
	}
	if len(out) < 4 {
		t.Fatalf("only %d blobs in tier %s", len(out), tier)
	}
	return out
}

func anyBlob(t *testing.T, m map[string][]byte) (string, []byte) {
	for p, b := range m {
		return p, b
	}
	t.Fatal("no blob")
	return "", nil
}

func TestEdgeHitMiss(t *testing.T) {
	f := newFixture(t)
	e, url := startEdge(t, DefaultOptions(f.origin.url))
	path, want := anyBlob(t, f.blobPaths(t, model.TierNormal))

	for i, xcache := range []string{"MISS", "HIT", "HIT"} {
		resp, b := get(t, url, path, f.token)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
			t.Fatalf("request %d: status %d, %d bytes (want 200, the blob)", i, resp.StatusCode, len(b))
		}
		if got := resp.Header.Get("X-Cache"); got != xcache {
			t.Errorf("request %d: X-Cache %q, want %q", i, got, xcache)
		}
		if got := resp.Header.Get("Cache-Control"); got != relay.CacheImmutable {
			t.Errorf("Cache-Control %q, want %q", got, relay.CacheImmutable)
		}
		if got, want := resp.Header.Get("ETag"), `"`+strings.TrimPrefix(path, "/v1/blobs/")+`"`; got != want {
			t.Errorf("ETag %s, want %s", got, want)
		}
		e.store.wait()
	}
	if n := f.origin.count(path); n != 1 {
		t.Errorf("relay saw %d fetches of the blob, want 1", n)
	}
	if s := e.Stats(); s.Hits != 2 || s.Misses != 1 {
		t.Errorf("stats %+v, want 2 hits 1 miss", s)
	}

	// Positional routes: manifest, header and chunk, cached by position.
	tr := string(f.relay.Tracks[0])
	for _, p := range []string{"/manifest", "/header", "/chunks/1"} {
		path := "/v1/audio/" + tr + "/normal" + p
		_, direct := get(t, f.relay.URL, path, f.token)
		for i := range 2 {
			resp, b := get(t, url, path, f.token)
			if resp.StatusCode != http.StatusOK || !bytes.Equal(b, direct) {
				t.Fatalf("%s request %d: status %d, body differs from the relay's", path, i, resp.StatusCode)
			}
			if cc := resp.Header.Get("Cache-Control"); cc != relay.CachePositional {
				t.Errorf("%s: Cache-Control %q", path, cc)
			}
			e.store.wait()
		}
		if n := f.origin.count(path); n != 1 {
			t.Errorf("%s: relay saw %d fetches, want 1", path, n)
		}
	}
	resp, _ := get(t, url, "/v1/audio/"+tr+"/normal/manifest", f.token)
	if ct := resp.Header.Get("Content-Type"); ct != "application/cbor" {
		t.Errorf("manifest Content-Type %q", ct)
	}
}

func TestEdgePositionExpires(t *testing.T) {
	f := newFixture(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e, url := startEdge(t, DefaultOptions(f.origin.url).WithClock(clock))
	path := "/v1/audio/" + string(f.relay.Tracks[0]) + "/low/chunks/0"
	get(t, url, path, f.token)
	e.store.wait()
	now.Add(int64(59 * time.Minute))
	get(t, url, path, f.token)
	if n := f.origin.count(path); n != 1 {
		t.Fatalf("within max-age: %d fetches, want 1", n)
	}
	now.Add(int64(2 * time.Minute)) // past the relay's max-age=3600
	get(t, url, path, f.token)
	if n := f.origin.count(path); n != 2 {
		t.Fatalf("after max-age: %d fetches, want 2 (revalidated by a fetch)", n)
	}
}

func TestEdgeCoalescing(t *testing.T) {
	f := newFixture(t)
	_, url := startEdge(t, DefaultOptions(f.origin.url))
	path, want := anyBlob(t, f.blobPaths(t, model.TierHigh))
	get(t, url, "/v1/me", f.token) // the token verdict is not what we count
	f.origin.delay.Store(int64(200 * time.Millisecond))

	const n = 32
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, url+path, nil)
			req.Header.Set("Authorization", "Bearer "+f.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
				errs <- "bad answer " + resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if c := f.origin.count(path); c != 1 {
		t.Errorf("%d concurrent misses made %d origin fetches, want 1", n, c)
	}
}

func TestEdgeCorruptOrigin(t *testing.T) {
	f := newFixture(t)
	e, url := startEdge(t, DefaultOptions(f.origin.url))
	blobs := f.blobPaths(t, model.TierNormal)
	path, want := anyBlob(t, blobs)
	pos := "/v1/audio/" + string(f.relay.Tracks[1]) + "/normal/chunks/0"
	f.origin.corrupt.Store(true)
	for _, p := range []string{path, pos, "/v1/audio/" + string(f.relay.Tracks[1]) + "/normal/manifest"} {
		resp, b := get(t, url, p, f.token)
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("%s from a corrupting origin: status %d, want 502", p, resp.StatusCode)
		}
		if bytes.Contains(b, want) || resp.Header.Get("ETag") != "" {
			t.Errorf("%s: corrupt answer leaked", p)
		}
	}
	e.store.wait()
	if s := e.Stats(); s.Corrupt != 3 || s.MemoryBytes != 0 {
		t.Errorf("stats %+v: want 3 corrupt, nothing cached", s)
	}
	f.origin.corrupt.Store(false)
	resp, b := get(t, url, path, f.token)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) || resp.Header.Get("X-Cache") != "MISS" {
		t.Errorf("after the origin healed: %d %s, want a fresh 200 MISS with the blob", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
}

func TestEdgeRangeAnd304(t *testing.T) {
	f := newFixture(t)
	e, url := startEdge(t, DefaultOptions(f.origin.url))
	path, want := anyBlob(t, f.blobPaths(t, model.TierVeryHigh))
	get(t, url, path, f.token)
	e.store.wait()
	etag := `"` + strings.TrimPrefix(path, "/v1/blobs/") + `"`
	tests := []struct {
		name   string
		hdr    []string
		status int
		body   []byte
	}{
		{"range", []string{"Range", "bytes=10-99"}, http.StatusPartialContent, want[10:100]},
		{"suffix", []string{"Range", "bytes=-7"}, http.StatusPartialContent, want[len(want)-7:]},
		{"if-none-match", []string{"If-None-Match", etag}, http.StatusNotModified, nil},
		{"if-none-match other", []string{"If-None-Match", `"x"`}, http.StatusOK, want},
		{"unsatisfiable", []string{"Range", "bytes=99999999-"}, http.StatusRequestedRangeNotSatisfiable, nil},
		{"overlapping ranges merged", []string{"Range", "bytes=0-9,5-15,16-19"}, http.StatusPartialContent, want[:20]},
		{"too many ranges", []string{"Range", "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16"}, http.StatusRequestedRangeNotSatisfiable, nil},
		{"unit in capitals", []string{"Range", "Bytes=10-99"}, http.StatusPartialContent, want[10:100]},
		{"unknown unit ignored", []string{"Range", "items=0-1"}, http.StatusOK, want},
		{"malformed ignored", []string{"Range", "bytes=abc"}, http.StatusOK, want},
		{"last-pos before first-pos ignored", []string{"Range", "bytes=99-10"}, http.StatusOK, want},
		{"unsatisfiable suffix", []string{"Range", "bytes=-0"}, http.StatusRequestedRangeNotSatisfiable, nil},
	}
	for _, tc := range tests {
		resp, b := get(t, url, path, f.token, tc.hdr...)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.status)
			continue
		}
		if tc.status >= 400 && (!bytes.HasPrefix(b, []byte(`{"error":`)) || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("ETag") != "") {
			t.Errorf("%s: error answer %q, Cache-Control %q, ETag %q; want JSON, no-store, no ETag", tc.name, b, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
		}
		if cr := resp.Header.Get("Content-Range"); tc.status == http.StatusRequestedRangeNotSatisfiable && cr != "bytes */"+strconv.Itoa(len(want)) {
			t.Errorf("%s: Content-Range %q, want bytes */%d", tc.name, cr, len(want))
		}
		direct, db := get(t, f.relay.URL, path, f.token, tc.hdr...)
		if direct.StatusCode != resp.StatusCode || (tc.body != nil && !bytes.Equal(db, b)) {
			t.Errorf("%s: edge answered %d, the relay %d (or another body)", tc.name, resp.StatusCode, direct.StatusCode)
		}
		if tc.body != nil && !bytes.Equal(b, tc.body) {
			t.Errorf("%s: %d bytes, not the expected %d", tc.name, len(b), len(tc.body))
		}
		if tc.status < 400 && resp.Header.Get("X-Cache") != "HIT" {
			t.Errorf("%s: not a hit", tc.name)
		}
	}
	if n := f.origin.count(path); n != 1 {
		t.Errorf("relay saw %d fetches, want 1", n)
	}
}

func TestEdgeTiering(t *testing.T) {
	f := newFixture(t)
	_, mid := startEdge(t, DefaultOptions(f.origin.url))
	blobs := f.blobPaths(t, model.TierNormal)
	path, want := anyBlob(t, blobs)
	for i := range 3 { // three leaf edges, each with a cold cache
		leaf, url := startEdge(t, DefaultOptions(mid))
		resp, b := get(t, url, path, f.token)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
			t.Fatalf("leaf %d: status %d", i, resp.StatusCode)
		}
		if s := leaf.Stats(); s.Misses != 1 {
			t.Errorf("leaf %d: %+v, want a miss", i, s)
		}
	}
	if n := f.origin.count(path); n != 1 {
		t.Errorf("relay saw %d fetches through the mid tier, want 1", n)
	}
	// Auth passes through the tiers too.
	_, url := startEdge(t, DefaultOptions(mid))
	if resp, _ := get(t, url, path, "bogus-token"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bad token through two tiers: %d, want 401", resp.StatusCode)
	}
}

func TestEdgeByteBudget(t *testing.T) {
	f := newFixture(t)
	const memBudget, diskBudget = 24 << 10, 48 << 10
	dir := t.TempDir()
	e, url := startEdge(t, DefaultOptions(f.origin.url).WithMemoryBytes(memBudget).WithDiskDir(dir).WithDiskBytes(diskBudget))
	var total int
	for _, tier := range []model.Tier{model.TierLow, model.TierNormal, model.TierHigh} {
		for path, want := range f.blobPaths(t, tier) {
			total += len(want)
			for range 2 {
				resp, b := get(t, url, path, f.token)
				if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
					t.Fatalf("%s: status %d", path, resp.StatusCode)
				}
			}
			e.store.wait()
			s := e.Stats()
			if s.MemoryBytes > memBudget || s.DiskBytes > diskBudget {
				t.Fatalf("over budget: %+v", s)
			}
			var onDisk int64
			ents, _ := os.ReadDir(dir)
			for _, de := range ents {
				info, _ := de.Info()
				onDisk += info.Size()
			}
			if onDisk > diskBudget {
				t.Fatalf("%d bytes of files on disk, budget %d", onDisk, diskBudget)
			}
		}
	}
	if total < 2*diskBudget {
		t.Fatalf("only %d bytes requested: the test does not exceed the budget", total)
	}
	if s := e.Stats(); s.Hits == 0 || s.DiskBytes == 0 || s.MemoryBytes == 0 {
		t.Errorf("nothing kept: %+v", s)
	}
}

func TestEdgeDiskSurvivesRestartAndCorruption(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	opts := DefaultOptions(f.origin.url).WithDiskDir(dir)
	blobs := f.blobPaths(t, model.TierLow)
	e1, url := startEdge(t, opts)
	for p := range blobs {
		get(t, url, p, f.token)
	}
	e1.store.wait()
	e1.Close()

	// Corrupt one object file behind the edge's back.
	var bad string
	for p := range blobs {
		bad = p
		break
	}
	name := filepath.Join(dir, "b-"+strings.TrimPrefix(bad, "/v1/blobs/"))
	if err := os.WriteFile(name, []byte("not the blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, url2 := startEdge(t, opts)
	for p, want := range blobs {
		resp, b := get(t, url2, p, f.token)
		if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) {
			t.Fatalf("%s after restart: status %d", p, resp.StatusCode)
		}
		wantX := "HIT"
		if p == bad {
			wantX = "MISS"
		}
		if got := resp.Header.Get("X-Cache"); got != wantX {
			t.Errorf("%s after restart: X-Cache %s, want %s", p, got, wantX)
		}
	}
	if n := f.origin.count(bad); n != 2 {
		t.Errorf("corrupted object fetched %d times, want 2 (refetched after the corrupt file)", n)
	}
}

func TestEdgeAuth(t *testing.T) {
	f := newFixture(t)
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e, url := startEdge(t, DefaultOptions(f.origin.url).WithClock(clock))
	path, want := anyBlob(t, f.blobPaths(t, model.TierNormal))
	get(t, url, path, f.token) // cached now
	e.store.wait()

	for _, tc := range []struct {
		name, tok string
		status    int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"unknown token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", http.StatusUnauthorized},
		{"malformed token", "x", http.StatusUnauthorized},
		{"valid token", f.token, http.StatusOK},
	} {
		for _, p := range []string{path, "/v1/audio/" + string(f.relay.Tracks[0]) + "/normal/manifest"} {
			resp, b := get(t, url, p, tc.tok)
			if resp.StatusCode != tc.status {
				t.Errorf("%s %s: status %d, want %d", tc.name, p, resp.StatusCode, tc.status)
			}
			direct, _ := get(t, f.relay.URL, p, tc.tok)
			if direct.StatusCode != resp.StatusCode {
				t.Errorf("%s %s: edge %d, relay %d", tc.name, p, resp.StatusCode, direct.StatusCode)
			}
			if tc.status == http.StatusUnauthorized {
				if bytes.Contains(b, want[:16]) || resp.Header.Get("WWW-Authenticate") != "Bearer" {
					t.Errorf("%s: 401 without WWW-Authenticate or with the blob", tc.name)
				}
			}
		}
	}
	// The Authorization header is read as the relay reads it: the scheme
	// in any case, the token trimmed.
	for _, h := range []string{"bearer " + f.token, "BEARER " + f.token + " ", "Bearer  " + f.token, "Basic " + f.token, "Bearer", "Bearer "} {
		for _, base := range []string{url, f.relay.URL} {
			req, _ := http.NewRequest(http.MethodGet, base+path, nil)
			req.Header.Set("Authorization", h)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusUnauthorized
			if strings.Contains(h, f.token) && !strings.HasPrefix(h, "Basic") {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("Authorization %q at %s: %d, want %d", h, base, resp.StatusCode, want)
			}
		}
	}
	// Verdicts are cached: a burst of requests asks the relay once per TTL.
	countMe := func() int64 { return e.fetches.Load() }
	n0 := countMe()
	for range 5 {
		get(t, url, path, f.token)
	}
	if d := countMe() - n0; d != 0 {
		t.Errorf("hits within the verdict TTL sent %d parent requests, want 0", d)
	}
	now.Add(int64(DefaultAuthTTL + time.Second))
	get(t, url, path, f.token)
	if d := countMe() - n0; d != 1 {
		t.Errorf("after the TTL: %d parent requests, want 1 (the token check)", d)
	}
}

func TestNewBadOptions(t *testing.T) {
	for _, o := range []Options{
		DefaultOptions(""),
		DefaultOptions("ftp://x"),
		DefaultOptions("http://x/path"),
		DefaultOptions("http://x").WithMemoryBytes(0),
		DefaultOptions("http://x").WithDiskDir(t.TempDir()).WithDiskBytes(-1),
		DefaultOptions("http://x").WithMaxBlobSize(0),
		DefaultOptions("http://x").WithMaxBlobSize(2 << 30),
		DefaultOptions("http://x").WithOriginTimeout(0),
		DefaultOptions("http://x").WithInFlightBytes(1<<20, time.Second),           // under the largest blob
		DefaultOptions("http://x").WithInFlightBytes(DefaultInFlightBytes, -1),     // negative wait
		DefaultOptions("http://x").WithInFlightPerClient(1 << 20),                  // share under the largest blob
		DefaultOptions("http://x").WithInFlightPerClient(DefaultInFlightBytes + 1), // share over the budget
		DefaultOptions("http://x").WithSlowClient(0, DefaultSendRate),
		DefaultOptions("http://x").WithSlowClient(DefaultSendGrace, 0),
		DefaultOptions("http://x").WithTokenCheckRate(0, 1),
		DefaultOptions("http://x").WithTokenCheckRate(time.Second, 0),
	} {
		if e, err := New(o); err == nil {
			e.Close()
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

func TestEdgeBadRequests(t *testing.T) {
	f := newFixture(t)
	_, url := startEdge(t, DefaultOptions(f.origin.url))
	tr := string(f.relay.Tracks[0])
	for _, tc := range []struct {
		path   string
		status int
	}{
		{"/v1/blobs/abc", http.StatusBadRequest},
		{"/v1/blobs/" + strings.Repeat("A", 64), http.StatusBadRequest},
		{"/v1/blobs/" + strings.Repeat("0", 64), http.StatusNotFound},
		{"/v1/audio/" + tr + "/ultra/manifest", http.StatusBadRequest},
		{"/v1/audio/" + tr + "/normal/chunks/01", http.StatusBadRequest},
		{"/v1/audio/" + tr + "/normal/chunks/999", http.StatusNotFound},
		{"/v1/audio/nosuchtrack/normal/manifest", http.StatusNotFound},
		{"/v1/keys/stream", http.StatusNotFound},
	} {
		resp, b := get(t, url, tc.path, f.token)
		if resp.StatusCode != tc.status || resp.Header.Get("Cache-Control") != "no-store" || !bytes.HasPrefix(b, []byte(`{"error":`)) {
			t.Errorf("%s: %d %q %s, want %d no-store JSON", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), b, tc.status)
		}
	}
}

// TestEdgeRevokedToken: a token the relay has revoked, which the edge
// still trusts (its accepted verdict lasts the auth TTL), is refused at
// its first miss: the parent's 401 becomes the edge's verdict, so cached
// objects stop being served to it at once (they were served until the
// TTL ran out). And a parent's 401 is the leader's alone: another
// device's request that joined the revoked token's fetch gets the bytes
// with its own token, not a 401 (it got the 401 before).
func TestEdgeRevokedToken(t *testing.T) {
	ctx := context.Background()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	alice, bob, carol := testbed.Device(t, r, "alice"), testbed.Device(t, r, "bob"), testbed.Device(t, r, "carol")
	aliceTok, bobTok, carolTok := alice.Token(), bob.Token(), carol.Token()
	o := newOrigin(t, r.URL)
	f := &fixture{relay: r, origin: o, token: bobTok}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, url := startEdge(t, DefaultOptions(o.url).WithClock(func() time.Time { return now }))
	blobs := f.blobPaths(t, model.TierHigh)
	var paths []string
	for p := range blobs {
		paths = append(paths, p)
	}
	cached, joined, missed := paths[0], paths[1], paths[2]
	for _, tok := range []string{aliceTok, bobTok, carolTok} {
		if resp, _ := get(t, url, cached, tok); resp.StatusCode != http.StatusOK {
			t.Fatalf("before the revocation: %s", resp.Status)
		}
	}
	for _, dev := range []*core.Engine{alice, carol} {
		if err := dev.Deregister(ctx, dev.DeviceID()); err != nil {
			t.Fatal(err)
		}
	}
	// The parent's 401 to a passed-through /v1/me refuses the token too.
	if resp, _ := get(t, url, "/v1/me", carolTok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token's /v1/me: %s, want 401", resp.Status)
	}
	if resp, _ := get(t, url, cached, carolTok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("cached object after the parent refused the token's /v1/me: %s, want 401", resp.Status)
	}
	if resp, _ := get(t, url, cached, aliceTok); resp.StatusCode != http.StatusOK {
		t.Fatalf("cached object, revoked token inside the verdict TTL: %s (the documented window)", resp.Status)
	}

	// Alice's miss leads the fetch; bob's request for the same object
	// joins it while the parent holds it.
	hold := make(chan struct{})
	o.hold.Store(&hold)
	aliceReq, bobReq := authReq(t, url+joined, aliceTok), authReq(t, url+joined, bobTok)
	aliceDone := make(chan int)
	go func() {
		resp, err := http.DefaultClient.Do(aliceReq)
		if err != nil {
			aliceDone <- 0
			return
		}
		resp.Body.Close()
		aliceDone <- resp.StatusCode
	}()
	<-o.arrived
	misses := e.misses.Load()
	bobDone := make(chan *http.Response)
	go func() {
		resp, err := http.DefaultClient.Do(bobReq)
		if err != nil {
			bobDone <- nil
			return
		}
		bobDone <- resp
	}()
	for e.misses.Load() == misses {
		runtime.Gosched() // bob's request has reached the edge's miss path
	}
	o.hold.Store(nil)
	close(hold)
	if code := <-aliceDone; code != http.StatusUnauthorized {
		t.Errorf("revoked token's miss: %d, want 401", code)
	}
	resp := <-bobDone
	if resp == nil {
		t.Fatal("bob's request failed")
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(b, blobs[joined]) {
		t.Errorf("bob joined the revoked token's fetch: %s, want 200 with the blob", resp.Status)
	}

	for _, p := range []string{cached, joined, missed} {
		if resp, _ := get(t, url, p, aliceTok); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked token after its first refused miss, %s: %s, want 401", p, resp.Status)
		}
		if resp, _ := get(t, url, p, bobTok); resp.StatusCode != http.StatusOK {
			t.Errorf("bob, %s: %s, want 200", p, resp.Status)
		}
	}
}

// authReq returns GET url with bearer tok.
func authReq(t *testing.T, url, tok string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

// TestEdgeParentFailureHidesAddress: an answer about a parent that cannot
// be reached, drops its connection, sends less than it announced or is
// too slow names the problem (a 502 with the error's sentinel text) but
// not the parent's address, which is the deployment's, not the client's
// to know (before, the body carried Go's error: `Get
// "http://10.0.0.5:7474/v1/…": dial tcp …: connection refused`).
func TestEdgeParentFailureHidesAddress(t *testing.T) {
	var meCalls atomic.Int64
	hang := make(chan struct{})
	drop := func(w http.ResponseWriter) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/me" && meCalls.Add(1) == 1:
			io.WriteString(w, `{"device":{"device_id":"d1"}}`)
		case r.URL.Path == "/v1/me", r.URL.Path == "/v1/blobs/"+strings.Repeat("1", 64):
			drop(w)
		case r.URL.Path == "/v1/blobs/"+strings.Repeat("2", 64):
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "0123456789")
			w.(http.Flusher).Flush()
			drop(w)
		default:
			<-hang
		}
	}))
	t.Cleanup(parent.Close)
	t.Cleanup(func() { close(hang) })
	_, url := startEdge(t, DefaultOptions(parent.URL).WithOriginTimeout(200*time.Millisecond))
	host := strings.TrimPrefix(parent.URL, "http://")
	for _, tc := range []struct {
		name, path, want string
	}{
		{"me passed through, connection dropped", "/v1/me", ErrParent.Error()},
		{"blob, connection dropped", "/v1/blobs/" + strings.Repeat("1", 64), ErrParent.Error()},
		{"blob, body cut short", "/v1/blobs/" + strings.Repeat("2", 64), ErrParent.Error()},
		{"chunk, origin timeout", "/v1/audio/t1/normal/chunks/0", ErrParent.Error()},
	} {
		resp, b := get(t, url, tc.path, "tok")
		if resp.StatusCode != http.StatusBadGateway || !bytes.Contains(b, []byte(`"error":"`+tc.want)) {
			t.Errorf("%s: %d %s, want 502 naming %q", tc.name, resp.StatusCode, b, tc.want)
		}
		if bytes.Contains(b, []byte(host)) {
			t.Errorf("%s: answer %s names the parent's address %s", tc.name, b, host)
		}
	}
}

// TestEdgeDiskDirRemoved: a disk directory removed while the edge runs
// (or removed and made again empty) is made again, and locked again, by
// the next object written, so the disk level keeps caching (before,
// every later write failed, "no such file or directory", until a
// restart: nothing reached disk) and a second edge on the directory is
// still refused (ErrDiskInUse; it started on the re-made directory,
// which held no lock).
func TestEdgeDiskDirRemoved(t *testing.T) {
	for _, remake := range []bool{false, true} {
		t.Run(fmt.Sprintf("made again empty %v", remake), func(t *testing.T) {
			f := newFixture(t)
			dir := filepath.Join(t.TempDir(), "cache")
			opts := DefaultOptions(f.origin.url).WithDiskDir(dir)
			blobs := f.blobPaths(t, model.TierLow)
			e1, url := startEdge(t, opts)
			first, _ := anyBlob(t, blobs)
			get(t, url, first, f.token)
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			if remake {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for p := range blobs {
				if p != first {
					get(t, url, p, f.token)
				}
			}
			e1.store.wait()
			e2, err := New(opts)
			if !errors.Is(err, ErrDiskInUse) {
				if err == nil {
					e2.Close()
				}
				t.Fatalf("second edge on the re-made disk directory: %v, want ErrDiskInUse", err)
			}
			e1.Close()
			_, url2 := startEdge(t, opts)
			for p, want := range blobs {
				resp, b := get(t, url2, p, f.token)
				wantX := "HIT"
				if p == first {
					wantX = "MISS" // its file went with the directory
				}
				if resp.StatusCode != http.StatusOK || !bytes.Equal(b, want) || resp.Header.Get("X-Cache") != wantX {
					t.Errorf("%s after restart: %d X-Cache %s, want 200 %s", p, resp.StatusCode, resp.Header.Get("X-Cache"), wantX)
				}
			}
		})
	}
}

// TestEdgeDiskDirInUse: a second edge on a disk directory another edge
// holds is refused (ErrDiskInUse) instead of sharing its files with a
// budget of its own (before, both started: the directory held up to both
// budgets, and each deleted the other's temporary files at start and
// objects at eviction). The directory is free again once the first
// edge is closed.
func TestEdgeDiskDirInUse(t *testing.T) {
	opts := DefaultOptions("http://127.0.0.1:1").WithDiskDir(t.TempDir())
	e1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e2, err := New(opts)
	if !errors.Is(err, ErrDiskInUse) {
		if err == nil {
			e2.Close()
		}
		t.Fatalf("second edge on one disk directory: %v, want ErrDiskInUse", err)
	}
	e1.Close()
	e3, err := New(opts)
	if err != nil {
		t.Fatalf("after the first edge closed: %v", err)
	}
	e3.Close()
}

// TestEdgeParentRetryLater: a parent's temporary refusal of a fetch (503
// or 429 with Retry-After: the relay's blob budget full, a limit of the
// client's account) reaches the client as that status with the wait, so
// it retries later (core/fetch reads it as api.ErrRetryLater); before,
// it was a 502 without Retry-After, which a client takes for a broken
// origin. A Retry-After that is not delay-seconds becomes 1 s, and one
// over an hour an hour. /v1/me passed through keeps the parent's wait,
// and so does a token check the parent refuses for now (it was a 502).
func TestEdgeParentRetryLater(t *testing.T) {
	type refusal struct{ code, after string }
	answers := map[string]refusal{
		strings.Repeat("1", 64): {"503", "7"},
		strings.Repeat("2", 64): {"429", "3"},
		strings.Repeat("3", 64): {"503", "Wed, 21 Oct 2026 07:28:00 GMT"},
		strings.Repeat("4", 64): {"503", "99999999"},
	}
	var meCalls atomic.Int64
	parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answers[strings.TrimPrefix(r.URL.Path, "/v1/blobs/")]
		if r.URL.Path == "/v1/me" {
			if meCalls.Add(1) == 1 {
				io.WriteString(w, `{"device":{"device_id":"d1"}}`)
				return
			}
			a = refusal{"429", "9"}
		}
		n, _ := strconv.Atoi(a.code)
		w.Header().Set("Retry-After", a.after)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(n)
		io.WriteString(w, `{"error":"busy"}`)
	}))
	t.Cleanup(parent.Close)
	_, url := startEdge(t, DefaultOptions(parent.URL))
	get(t, url, "/v1/me", "tok") // accepted
	for _, tc := range []struct {
		path, tok  string
		code       int
		retryAfter string
	}{
		{"/v1/blobs/" + strings.Repeat("1", 64), "tok", http.StatusServiceUnavailable, "7"},
		{"/v1/blobs/" + strings.Repeat("2", 64), "tok", http.StatusTooManyRequests, "3"},
		{"/v1/blobs/" + strings.Repeat("3", 64), "tok", http.StatusServiceUnavailable, "1"},
		{"/v1/blobs/" + strings.Repeat("4", 64), "tok", http.StatusServiceUnavailable, "3600"},
		{"/v1/me", "tok", http.StatusTooManyRequests, "9"},
		{"/v1/blobs/" + strings.Repeat("1", 64), "unknown", http.StatusTooManyRequests, "9"}, // its token check refused for now
	} {
		resp, b := get(t, url, tc.path, tc.tok)
		if resp.StatusCode != tc.code || resp.Header.Get("Retry-After") != tc.retryAfter {
			t.Errorf("%s with %s: %d Retry-After %q (%s), want %d Retry-After %q", tc.path, tc.tok, resp.StatusCode, resp.Header.Get("Retry-After"), b, tc.code, tc.retryAfter)
		}
	}
}
