package relay_test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/relay"
)

// TestRelaySlowReader: a client that stops reading an audio answer is
// cut off once the answer is overdue (WithSlowClient), so the blob it
// was sent stops counting against the blob memory budget. Before, the
// write blocked for as long as the client kept its connection open, and
// 64 such clients on 16 MiB blobs pinned the whole default budget.
func TestRelaySlowReader(t *testing.T) {
	const size = 8 << 20
	e := startRelay(t, 1, size, func(o relay.Options) relay.Options { return o.WithSlowClient(100*time.Millisecond, 1<<30) })
	c, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET /v1/audio/tr1/high/chunks/0 HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer %s\r\n\r\n", e.token)
	for _, peak, _ := e.srv.BlobMemory(); peak < size; _, peak, _ = e.srv.BlobMemory() {
		runtime.Gosched() // the request holds its chunk
	}
	deadline := time.Now().Add(10 * time.Second)
	for held, _, _ := e.srv.BlobMemory(); held != 0; held, _, _ = e.srv.BlobMemory() {
		if time.Now().After(deadline) {
			t.Fatalf("a client that reads nothing still holds %d blob bytes after 10 s", held)
		}
		runtime.Gosched()
	}
}
