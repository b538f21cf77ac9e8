package relaysync_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/sync/relaysync"
)

// TestServeReturnsAfterUpgrade: the endpoint's handler returns once the
// WebSocket is upgraded (so net/http drops its per-request state), and
// the session goes on serving on its own goroutine: a playlist uploaded
// after the return reaches the relay's repo.
func TestServeReturnsAfterUpgrade(t *testing.T) {
	ep, repo, _ := openEndpoint(t, relaysync.DefaultOptions())
	returned := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.ServeHTTP(w, r)
		returned <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	alice := dial(t, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/sync", "alice")
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler still runs 10 s after the handshake")
	}
	id, doc := playlist(t, false)
	if m, err := syncUntilQuiet(t, alice, id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("upload after the handler returned: %v %+v", err, m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(relayTracks(t, repo, id)) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("relay has %v 10 s after the upload", relayTracks(t, repo, id))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
