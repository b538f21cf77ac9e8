package edge

import (
	"fmt"
	"net"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestEdgeSlowReader: a client that stops reading a miss's answer is cut
// off once its answer is overdue (Options.WithSlowClient), so the miss's
// body stops counting against the in-flight budget. Before, the edge's
// write blocked for as long as the client kept the connection open, and
// a few such clients pinned the whole budget: every other miss got 503.
func TestEdgeSlowReader(t *testing.T) {
	const size = 8 << 20
	p := newBlobParent(t, 1, size)
	close(p.gate)
	e, err := New(DefaultOptions(p.url).WithSlowClient(100*time.Millisecond, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer tok\r\n\r\n", p.paths[0])
	for e.Stats().InFlightPeak < size {
		runtime.Gosched() // the miss has reserved its body
	}
	// The client reads nothing; its answer is overdue after 100 ms.
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().InFlightBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a client that reads nothing still holds %d in-flight bytes after 10 s", e.Stats().InFlightBytes)
		}
		runtime.Gosched()
	}
}
