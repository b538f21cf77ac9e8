package relay_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/relay"
)

// gatedWriter is an access.Writer whose Write reports on arrived and
// waits for gate: a request that has sent its whole blob stays in its
// handler, holding the blob, until the test lets it go.
type gatedWriter struct {
	arrived chan struct{}
	gate    chan struct{}
}

func (w *gatedWriter) Write(access.Record) error {
	w.arrived <- struct{}{}
	<-w.gate
	return nil
}
func (w *gatedWriter) Flush(context.Context) error { return nil }
func (w *gatedWriter) Stats() access.Stats         { return access.Stats{} }
func (w *gatedWriter) Close() error                { return nil }

// TestRelayBlobMemory: the blob bodies the relay holds while serving
// them stay within WithBlobMemory, measured by its own counter; a
// request past it is answered 503 with Retry-After; a blob served by
// hash holds its own size once read. Before,
// every request held its whole blob outside any budget: 16 slow readers
// of 8 MiB chunks held 128 MiB of the relay's heap.
func TestRelayBlobMemory(t *testing.T) {
	const size = 6 << 20 // two fit in the budget of model.MaxBlobSize (16 MiB)
	e := startRelay(t, 5, size, func(o relay.Options) relay.Options { return o.WithBlobMemory(model.MaxBlobSize, 0) })
	w := &gatedWriter{arrived: make(chan struct{}, 16), gate: make(chan struct{})}
	e.srv.SetAccessWriter(w)

	codes := make([]response, 5)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = e.do(t, "GET", "/v1/audio/tr1/high/chunks/"+strconv.Itoa(i), nil, e.token) })
	}
	<-w.arrived
	<-w.arrived
	for _, _, refused := e.srv.BlobMemory(); refused < 3; _, _, refused = e.srv.BlobMemory() {
		runtime.Gosched()
	}
	if held, _, _ := e.srv.BlobMemory(); held != 2*size {
		t.Errorf("two chunks being served hold %d bytes, want %d", held, 2*size)
	}
	close(w.gate)
	wg.Wait()
	var ok, busy int
	for i, res := range codes {
		switch {
		case res.code == http.StatusOK && len(res.body) == size:
			ok++
		case res.code == http.StatusServiceUnavailable && res.header.Get("Retry-After") == "1":
			busy++
			res.errorMessage(t)
		default:
			t.Errorf("chunk %d: %d (%d bytes)", i, res.code, len(res.body))
		}
	}
	if ok != 2 || busy != 3 {
		t.Errorf("%d served and %d refused, want 2 and 3", ok, busy)
	}
	for held, _, _ := e.srv.BlobMemory(); held != 0; held, _, _ = e.srv.BlobMemory() {
		runtime.Gosched() // the served requests' handlers are returning
	}
	if _, peak, _ := e.srv.BlobMemory(); peak != 2*size {
		t.Errorf("peak %d bytes, want %d (budget %d)", peak, 2*size, model.MaxBlobSize)
	}

	// By hash, the header's size comes from the manifest that lists
	// it: it reserves only its own size, so a chunk fits beside it, on
	// its first request and its second.
	w.gate = make(chan struct{})
	h := crypto.BlobHash(e.pub.header)
	for range 2 {
		done := make(chan response)
		go func() { done <- e.do(t, "GET", "/v1/blobs/"+hex.EncodeToString(h[:]), nil, e.token) }()
		<-w.arrived
		if held, _, _ := e.srv.BlobMemory(); held != int64(len(e.pub.header)) {
			t.Errorf("header being served holds %d bytes, want %d", held, len(e.pub.header))
		}
		if res := e.do(t, "HEAD", "/v1/audio/tr1/high/chunks/0", nil, e.token); res.code != http.StatusOK {
			t.Errorf("a chunk beside the header being served: %d, want 200", res.code)
		}
		w.gate <- struct{}{}
		if res := <-done; res.code != http.StatusOK {
			t.Errorf("header by hash: %d", res.code)
		}
	}
}

// device signs user up with password pw and registers a device for it;
// it returns the device's token.
func (e *env) device(t *testing.T, user, pw string) string {
	t.Helper()
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": user, "password": pw}, adminToken); res.code != http.StatusCreated {
		t.Fatalf("sign up %s: %d %s", user, res.code, res.body)
	}
	res := e.do(t, "POST", "/v1/devices", e.registration(user, pw, newIdentity(t), e.clock.Now()), "")
	if res.code != http.StatusCreated {
		t.Fatalf("register %s: %d %s", user, res.code, res.body)
	}
	var out struct {
		Token string `json:"token"`
	}
	res.json(t, &out)
	return out.Token
}

// getOwnConn GETs url with token on a connection of its own.
func getOwnConn(t *testing.T, url, token string) response {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Error(err)
		return response{}
	}
	req.Header.Set("Authorization", "Bearer "+token)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Error(err)
		return response{}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

// waitServed waits until n requests of the blob memory test are either
// held in their handler (arrived on w) or refused by the relay.
func waitServed(e *env, w *gatedWriter, n int) {
	for _, _, refused := e.srv.BlobMemory(); int64(len(w.arrived))+refused < int64(n); _, _, refused = e.srv.BlobMemory() {
		runtime.Gosched()
	}
}

// TestRelayBlobMemoryPerClient: one account's parallel reads hold at
// most its share of the blob memory budget (a quarter by default), the
// rest of its reads are refused, and another account is still served.
// Before, one account's eight parallel reads of 8 MiB chunks took the
// whole 64 MiB budget and the other account's read got 503.
func TestRelayBlobMemoryPerClient(t *testing.T) {
	const size, n = 8 << 20, 8
	e := startRelay(t, n, size, func(o relay.Options) relay.Options { return o.WithBlobMemory(n*size, 0) })
	bob := e.device(t, "bob", "battery staple")
	w := &gatedWriter{arrived: make(chan struct{}, 2*n), gate: make(chan struct{})}
	e.srv.SetAccessWriter(w)

	codes := make([]response, n)
	var wg sync.WaitGroup
	for i := range codes {
		wg.Go(func() { codes[i] = e.do(t, "GET", "/v1/audio/tr1/high/chunks/"+strconv.Itoa(i), nil, e.token) })
	}
	waitServed(e, w, n)
	for len(w.arrived) > 0 {
		<-w.arrived
	}
	held, _, _ := e.srv.BlobMemory()
	// Ada's answered connections may be idle in the default client while
	// their handlers are held: bob's request must not queue behind one.
	done := make(chan response, 1)
	go func() { done <- getOwnConn(t, e.base+"/v1/audio/tr1/high/chunks/0", bob) }()
	var res response
	select {
	case <-w.arrived: // bob's read holds its chunk
		close(w.gate)
		res = <-done
	case res = <-done:
		close(w.gate)
	}
	if want := int64(2 * size); held != want {
		t.Errorf("ada's parallel reads hold %d bytes, want her share %d", held, want)
	}
	wg.Wait()
	if res.code != http.StatusOK || len(res.body) != size {
		t.Errorf("bob's chunk while ada holds %d bytes: %d (%d bytes), want his chunk", held, res.code, len(res.body))
	}
	var ok, busy int
	for _, res := range codes {
		switch res.code {
		case http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			busy++
		}
	}
	if ok != 2 || busy != n-2 {
		t.Errorf("ada: %d served and %d refused, want 2 and %d", ok, busy, n-2)
	}
}

// TestRelayBlobMemoryFirstReads: first reads by hash of small blobs
// reserve what they hold, not the largest blob, so many fit at once.
// Before, each reserved 16 MiB until read: under a 16 MiB budget one
// was served at a time and the other four got 503.
func TestRelayBlobMemoryFirstReads(t *testing.T) {
	const size, n = 100 << 10, 5
	e := startRelay(t, n, size, func(o relay.Options) relay.Options { return o.WithBlobMemory(model.MaxBlobSize, 0) })
	w := &gatedWriter{arrived: make(chan struct{}, n), gate: make(chan struct{})}
	e.srv.SetAccessWriter(w)
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range codes {
		h := crypto.BlobHash(e.pub.chunks[i])
		wg.Go(func() { codes[i] = e.do(t, "GET", "/v1/blobs/"+hex.EncodeToString(h[:]), nil, e.token).code })
	}
	waitServed(e, w, n)
	if held, _, refused := e.srv.BlobMemory(); held != n*size || refused != 0 {
		t.Errorf("%d first reads of %d bytes hold %d bytes, %d refused; want %d, none", n, size, held, refused, n*size)
	}
	close(w.gate)
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusOK {
			t.Errorf("blob %d: %d", i, code)
		}
	}
}

// TestRelayBlobMemoryBigFirstReads: concurrent first reads by hash of
// blobs over 1 MiB never hold more than the budget counts, nor more than
// the budget: each read is watched as it returns its bytes. Before, a
// first read reserved 1 MiB and grew to the blob's size only after
// reading it, so five 6 MiB reads under a 16 MiB budget held 30 MiB
// while 5 MiB were counted. A blob no manifest lists is reserved at the
// largest a blob may be, then settled to its size.
func TestRelayBlobMemoryBigFirstReads(t *testing.T) {
	const size, n = 6 << 20, 5
	e := startRelay(t, n, size, func(o relay.Options) relay.Options { return o.WithBlobMemory(model.MaxBlobSize, 0) })
	var (
		mu               sync.Mutex
		reading, maxOver int64 // bytes read and not yet counted, the most reads held beyond the count
		maxReading       int64
	)
	e.srv.WrapBlobRead(func(next func(context.Context, [32]byte) ([]byte, error)) func(context.Context, [32]byte) ([]byte, error) {
		return func(ctx context.Context, h [32]byte) ([]byte, error) {
			b, err := next(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			reading += int64(len(b))
			held, _, _ := e.srv.BlobMemory()
			maxOver = max(maxOver, reading-held)
			maxReading = max(maxReading, reading)
			reading -= int64(len(b))
			return b, err
		}
	})
	orphan := make([]byte, 3<<20)
	orphan[0] = 1
	oh, err := e.srv.Catalog().PutBlob(t.Context(), orphan)
	if err != nil {
		t.Fatal(err)
	}
	// The reads return at once: the requests are held after their
	// answers, holding their blobs, until the gate opens.
	w := &gatedWriter{arrived: make(chan struct{}, n+2), gate: make(chan struct{})}
	e.srv.SetAccessWriter(w)
	var wg sync.WaitGroup
	res := make([]response, n)
	for i := range res {
		h := crypto.BlobHash(e.pub.chunks[i])
		wg.Go(func() { res[i] = e.do(t, "GET", "/v1/blobs/"+hex.EncodeToString(h[:]), nil, e.token) })
	}
	waitServed(e, w, 2)
	close(w.gate)
	wg.Wait()
	var ok int
	for i, r := range res {
		switch {
		case r.code == http.StatusOK && string(r.body) == string(e.pub.chunks[i]):
			ok++
		case r.code == http.StatusServiceUnavailable && r.header.Get("Retry-After") == "1":
		default:
			t.Errorf("blob %d: %d (%d bytes)", i, r.code, len(r.body))
		}
	}
	if ok < 2 {
		t.Errorf("%d of %d first reads served, want at least the 2 that fit", ok, n)
	}
	for range 2 {
		if r := e.do(t, "GET", "/v1/blobs/"+hex.EncodeToString(oh[:]), nil, e.token); r.code != http.StatusOK || len(r.body) != len(orphan) {
			t.Errorf("blob no manifest lists: %d (%d bytes)", r.code, len(r.body))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if maxOver > 0 || maxReading > model.MaxBlobSize {
		t.Errorf("reads held up to %d bytes, %d more than the budget counted (budget %d), want none uncounted", maxReading, maxOver, model.MaxBlobSize)
	}
}

// TestRelayBlobMemoryUnlistedFirstReads: a first read by hash of a blob
// no manifest lists (an orphan, one replaced by a re-publication)
// reserves the blob's size as the blob store tells it, without reading
// it: five concurrent first reads of 100 KB orphans are all held at once
// under a 16 MiB budget, and a 12 MiB orphan is counted whole, so a
// 6 MiB one beside it is refused; no read ever returns bytes the budget
// does not count. Before, each such read reserved 16 MiB whatever its
// size: one was served at a time and the other four got 503.
func TestRelayBlobMemoryUnlistedFirstReads(t *testing.T) {
	const size, n = 100 << 10, 5
	e := startRelay(t, 1, 1<<10, func(o relay.Options) relay.Options { return o.WithBlobMemory(model.MaxBlobSize, 0) })
	var (
		mu      sync.Mutex
		maxOver int64 // the most bytes a read returned beyond what the budget counted
	)
	e.srv.WrapBlobRead(func(next func(context.Context, [32]byte) ([]byte, error)) func(context.Context, [32]byte) ([]byte, error) {
		return func(ctx context.Context, h [32]byte) ([]byte, error) {
			b, err := next(ctx, h)
			mu.Lock()
			defer mu.Unlock()
			held, _, _ := e.srv.BlobMemory()
			maxOver = max(maxOver, int64(len(b))-held)
			return b, err
		}
	})
	orphan := func(size, seed int) [32]byte {
		b := make([]byte, size)
		b[0], b[1] = byte(seed), byte(seed>>8)
		h, err := e.srv.Catalog().PutBlob(t.Context(), b)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	get := func(h [32]byte) response {
		return getOwnConn(t, e.base+"/v1/blobs/"+hex.EncodeToString(h[:]), e.token)
	}
	w := &gatedWriter{arrived: make(chan struct{}, n+2), gate: make(chan struct{})}
	e.srv.SetAccessWriter(w)

	var wg sync.WaitGroup
	res := make([]response, n)
	for i := range res {
		h := orphan(size, i)
		wg.Go(func() { res[i] = get(h) })
	}
	waitServed(e, w, n)
	if held, _, refused := e.srv.BlobMemory(); held != n*size || refused != 0 {
		t.Errorf("%d first reads of %d-byte orphans hold %d bytes, %d refused; want %d, none", n, size, held, refused, n*size)
	}
	for range len(w.arrived) { // the reads held; the others were refused
		<-w.arrived
		w.gate <- struct{}{}
	}
	wg.Wait()
	for i, r := range res {
		if r.code != http.StatusOK || len(r.body) != size {
			t.Errorf("orphan %d: %d (%d bytes)", i, r.code, len(r.body))
		}
	}
	for held, _, _ := e.srv.BlobMemory(); held != 0; held, _, _ = e.srv.BlobMemory() {
		runtime.Gosched() // the served requests' handlers are returning
	}

	big, other := orphan(12<<20, 1000), orphan(6<<20, 1001)
	done := make(chan response, 1)
	go func() { done <- get(big) }()
	<-w.arrived
	if held, _, _ := e.srv.BlobMemory(); held != 12<<20 {
		t.Errorf("a 12 MiB orphan being served holds %d bytes, want %d", held, 12<<20)
	}
	if r := get(other); r.code != http.StatusServiceUnavailable {
		t.Errorf("a 6 MiB orphan beside the 12 MiB one under a 16 MiB budget: %d, want 503", r.code)
	}
	w.gate <- struct{}{}
	if r := <-done; r.code != http.StatusOK || len(r.body) != 12<<20 {
		t.Errorf("12 MiB orphan: %d (%d bytes)", r.code, len(r.body))
	}
	mu.Lock()
	defer mu.Unlock()
	if maxOver > 0 {
		t.Errorf("a read returned %d bytes more than the budget counted, want none", maxOver)
	}
}
