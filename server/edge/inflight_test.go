package edge

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// blobParent is a fake parent: it accepts every token (/v1/me) and
// serves its blobs by hash, with their Content-Length. Each blob request
// is reported on arrived once its headers are sent, then waits for gate
// before the body.
type blobParent struct {
	url      string
	blobs    map[string][]byte // path → body
	paths    []string
	gate     chan struct{}
	arrived  chan string
	requests atomic.Int64
	// noLength sends bodies chunked, without Content-Length.
	noLength bool
}

func newBlobParent(t *testing.T, n, size int) *blobParent {
	t.Helper()
	p := &blobParent{blobs: map[string][]byte{}, gate: make(chan struct{}), arrived: make(chan string, 1024)}
	rng := rand.NewChaCha8([32]byte{7})
	for range n {
		b := make([]byte, size)
		rng.Read(b)
		h := sha256.Sum256(b)
		path := "/v1/blobs/" + hex.EncodeToString(h[:])
		p.blobs[path] = b
		p.paths = append(p.paths, path)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/me" {
			io.WriteString(w, `{"device":{"device_id":"dev-1"}}`)
			return
		}
		b, ok := p.blobs[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		p.requests.Add(1)
		if !p.noLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		}
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		p.arrived <- r.URL.Path
		select {
		case <-p.gate:
		case <-r.Context().Done():
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

// answer is one client's result.
type answer struct {
	status     int
	retryAfter string
	body       []byte
}

// getAll sends one GET per path concurrently and returns the answers in
// order, once all have completed.
func getAll(t *testing.T, base string, paths []string) []answer {
	t.Helper()
	out := make([]answer, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, base+p, nil)
			req.Header.Set("Authorization", "Bearer tok")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
			}
			out[i] = answer{resp.StatusCode, resp.Header.Get("Retry-After"), b}
		})
	}
	wg.Wait()
	return out
}

// TestEdgeInFlightBudget: concurrent misses for distinct large blobs hold
// at most the in-flight budget of bodies, measured by the edge's own
// reservation counter; a miss past it waits for room (and is served) or,
// without a wait, is answered 503 with Retry-After. Before, every miss
// read its whole body from the parent outside any budget: 16 misses of
// 8 MiB held ≈ 133 MiB of heap behind a 16 MiB memory budget.
func TestEdgeInFlightBudget(t *testing.T) {
	const size, budgetBlobs = 1 << 20, 3
	for _, tc := range []struct {
		name       string
		wait       time.Duration
		n          int
		same       bool // every request for the same blob
		want200    int
		wantBusy   int
		wantParent int64
	}{
		{"distinct misses wait for room", time.Minute, 12, false, 12, 0, 12},
		{"distinct misses past the budget refused", 0, 8, false, budgetBlobs, 8 - budgetBlobs, 8},
		{"one blob shared by every request", 0, 16, true, 16, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newBlobParent(t, tc.n, size)
			paths := p.paths
			if tc.same {
				paths = slices.Repeat(p.paths[:1], tc.n)
			}
			e, err := New(DefaultOptions(p.url).WithMemoryBytes(size).WithMaxBlobSize(size).WithInFlightBytes(budgetBlobs*size, tc.wait).WithInFlightPerClient(budgetBlobs * size))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			srv := httptest.NewServer(e.Handler())
			answers := make(chan []answer)
			go func() { answers <- getAll(t, srv.URL, paths) }()
			// Hold every body until the budget is full and every other
			// miss has either arrived at the parent or been refused.
			want := min(tc.wantParent, budgetBlobs)
			for range want {
				<-p.arrived
			}
			for s := e.Stats(); s.Misses < int64(tc.n) || s.InFlightBytes < want*size || s.Busy < int64(tc.wantBusy); s = e.Stats() {
				runtime.Gosched()
			}
			close(p.gate)
			got := <-answers
			srv.Close() // waits for the handlers: every hold is let go
			var ok, busy int
			for i, a := range got {
				switch a.status {
				case http.StatusOK:
					ok++
					if !bytes.Equal(a.body, p.blobs[paths[i]]) {
						t.Errorf("request %d: 200 with the wrong body", i)
					}
				case http.StatusServiceUnavailable:
					busy++
					if a.retryAfter != "1" || !strings.HasPrefix(string(a.body), `{"error":`) {
						t.Errorf("request %d: 503 with Retry-After %q and body %q, want 1 and a JSON error", i, a.retryAfter, a.body)
					}
				default:
					t.Errorf("request %d: status %d", i, a.status)
				}
			}
			s := e.Stats()
			if ok != tc.want200 || busy != tc.wantBusy || s.Busy != int64(tc.wantBusy) {
				t.Errorf("%d answered 200 and %d 503 (Busy %d), want %d and %d", ok, busy, s.Busy, tc.want200, tc.wantBusy)
			}
			if s.InFlightPeak > budgetBlobs*size || s.InFlightPeak != want*size {
				t.Errorf("in-flight peak %d bytes, want %d (budget %d)", s.InFlightPeak, want*size, budgetBlobs*size)
			}
			if s.InFlightBytes != 0 {
				t.Errorf("%d bytes still reserved after every answer", s.InFlightBytes)
			}
			if n := p.requests.Load(); n != tc.wantParent {
				t.Errorf("%d parent fetches, want %d", n, tc.wantParent)
			}
		})
	}
}

// TestEdgeParentFailsMidBody: a parent that cuts a body short, or sends
// a 200 without Content-Length (so the edge cannot reserve what it would
// hold), is a 502 for every request that shared the fetch; nothing is
// cached, the reservation is returned, and the next request fetches
// again.
func TestEdgeParentFailsMidBody(t *testing.T) {
	const size = 256 << 10
	for _, tc := range []struct {
		name     string
		noLength bool
		cut      bool
	}{
		{"cut mid-body", false, true},
		{"no Content-Length", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cut atomic.Bool
			cut.Store(tc.cut)
			blob := make([]byte, size)
			rand.NewChaCha8([32]byte{9}).Read(blob)
			h := sha256.Sum256(blob)
			path := "/v1/blobs/" + hex.EncodeToString(h[:])
			var fetches atomic.Int64
			parent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v1/me" {
					io.WriteString(w, `{"device":{"device_id":"dev-1"}}`)
					return
				}
				fetches.Add(1)
				if !tc.noLength {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				w.WriteHeader(http.StatusOK)
				if cut.Load() {
					w.Write(blob[:size/2])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler) // the parent goes down mid-body
				}
				w.Write(blob)
			}))
			defer parent.Close()
			e, err := New(DefaultOptions(parent.URL))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			srv := httptest.NewServer(e.Handler())
			for i, a := range getAll(t, srv.URL, slices.Repeat([]string{path}, 4)) {
				if a.status != http.StatusBadGateway || !strings.HasPrefix(string(a.body), `{"error":`) {
					t.Errorf("request %d: %d %q, want 502 with a JSON error", i, a.status, a.body)
				}
			}
			srv.Close()
			e.store.wait()
			if s := e.Stats(); s.MemoryBytes != 0 || s.InFlightBytes != 0 {
				t.Errorf("after the failed fetch: %d bytes cached, %d in flight; want 0 and 0", s.MemoryBytes, s.InFlightBytes)
			}
			if !tc.cut {
				return
			}
			cut.Store(false)
			n := fetches.Load()
			srv = httptest.NewServer(e.Handler())
			defer srv.Close()
			if resp, b := get(t, srv.URL, path, "tok"); resp.StatusCode != http.StatusOK || !bytes.Equal(b, blob) || fetches.Load() != n+1 {
				t.Errorf("once the parent is back: %d, %d bytes, %d fetches; want 200 with the blob and one fetch", resp.StatusCode, len(b), fetches.Load()-n)
			}
		})
	}
}

// TestEdgeInFlightPerClient: one client address holds at most its share
// of the in-flight budget, so another client's misses still find room.
// Without the share, the first client's four concurrent misses took the
// whole budget and the second client's misses got 503.
func TestEdgeInFlightPerClient(t *testing.T) {
	const size = 1 << 20
	p := newBlobParent(t, 6, size)
	e, err := New(DefaultOptions(p.url).WithMaxBlobSize(size).WithInFlightBytes(4*size, 0).WithInFlightPerClient(2 * size))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := e.Handler()
	type result struct {
		client string
		code   int
	}
	results := make(chan result, 6)
	var wg sync.WaitGroup
	send := func(client, path string) {
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.RemoteAddr = client + ":50000"
			req.Header.Set("Authorization", "Bearer tok")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			results <- result{client, rec.Code}
		})
	}
	// Client a asks for four blobs at once: two fit its share.
	for _, path := range p.paths[:4] {
		send("192.0.2.1", path)
	}
	<-p.arrived
	<-p.arrived
	for deadline := time.Now().Add(10 * time.Second); e.Stats().Busy < 2; runtime.Gosched() {
		if time.Now().After(deadline) {
			close(p.gate)
			t.Fatalf("client a's misses past its share were not refused: %+v", e.Stats())
		}
	}
	// Client b's two misses find the rest of the budget.
	for _, path := range p.paths[4:] {
		send("192.0.2.2", path)
	}
	for e.Stats().InFlightBytes < 4*size {
		runtime.Gosched()
	}
	close(p.gate)
	wg.Wait()
	close(results)
	got := map[result]int{}
	for r := range results {
		got[r]++
	}
	want := map[result]int{{"192.0.2.1", 200}: 2, {"192.0.2.1", 503}: 2, {"192.0.2.2", 200}: 2}
	if !maps.Equal(got, want) {
		t.Errorf("answers %v, want %v", got, want)
	}
	if s := e.Stats(); s.InFlightPeak != 4*size || s.InFlightBytes != 0 {
		t.Errorf("in-flight peak %d, now %d; want %d and 0", s.InFlightPeak, s.InFlightBytes, 4*size)
	}
}
