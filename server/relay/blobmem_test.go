package relay_test

import (
	"context"
	"encoding/hex"
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
// hash reserves the largest blob only until its size is known. Before,
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

	// By hash, the header's size is not known before its first read:
	// it reserves the largest blob, then only its own size, so a
	// chunk fits beside it. Its second request reserves its size.
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
