package social_test

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// TestStreamStopsReading: an activity stream whose client stops reading
// while its friend's activity keeps coming is closed once a write stays
// blocked past the slow-consumer bound (WithStreamQueue, 200 ms here),
// which frees its place: the stream count drops to zero and the device
// opens a stream again under a per-user cap of 1. Before, the write blocked until TCP gave up
// (never, while the client's kernel acknowledges with a zero window),
// and eight such streams held an account's every place.
func TestStreamStopsReading(t *testing.T) {
	const bound = 200 * time.Millisecond
	var svc *social.Service
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		svc = social.NewForRelay(dd, srv, social.DefaultOptions().WithStreams(10, 1).WithStreamQueue(64, bound).WithLogger(slog.New(slog.DiscardHandler)))
		svc.Mount(srv)
	}))
	ada := testbed.Device(t, r, "ada")
	testbed.Device(t, r, "bob")
	if err := svc.Follow(t.Context(), "ada", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := svc.Follow(t.Context(), "bob", "ada"); err != nil {
		t.Fatal(err)
	}

	// A raw client with a small receive buffer reads up to the stream's
	// ": ready" line, then nothing more.
	c, err := net.Dial("tcp", strings.TrimPrefix(r.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
	fmt.Fprintf(c, "GET /v1/activity/stream HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer %s\r\n\r\n", ada.Token())
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream head: %v", err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("stream: %s", line)
		}
		if strings.Contains(line, ": ready") {
			break
		}
	}
	if n := svc.Streams(); n != 1 {
		t.Fatalf("%d streams, want ada's", n)
	}

	post := api.ActivityPost{Track: r.Tracks[0], Playing: true}
	start := time.Now()
	for svc.Streams() != 0 {
		if time.Since(start) > 10*time.Second {
			sent, dropped := svc.Delivered()
			t.Fatalf("a stream that reads nothing is still open after 10 s (%d events queued, %d dropped)", sent, dropped)
		}
		if _, err := svc.Publish(t.Context(), "bob", post); err != nil {
			t.Fatal(err)
		}
	}
	sent, dropped := svc.Delivered()
	t.Logf("closed %v after the first event (%d events queued, %d dropped)", time.Since(start), sent, dropped)
	openStream(t, r.URL, ada.Token()) // her one place is free again (429 if not)
}
