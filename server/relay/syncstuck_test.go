package relay_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestRelaySyncStuckWrite: on a real relay (its listener, keepalive off,
// WithSlowClient 200 ms + n at 1 MiB/s), a device following a playlist
// that stops reading while the account's other device floods 16 MiB of
// ephemeral messages for it has its sync session closed once a write to
// it is overdue, which frees its long-lived connection; the flood
// completes. Before, the relay's write blocked for as long as the
// device's kernel acknowledged with a zero window.
func TestRelaySyncStuckWrite(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithSlowClient(200*time.Millisecond, 1<<20).WithSyncKeepalive(0).WithSyncRate(relay.MaxSyncRate, relay.MaxSyncRate).
			WithSyncEphemeralRate(64<<20, 64<<20)
	}))
	ctx := t.Context()
	e, d, id := syncedPlaylist(t, r, "ada")
	d.Close()
	waitLongLived(t, r.Server(), 0)

	u := "ws" + strings.TrimPrefix(r.URL, "http") + "/v1/sync"
	dial := func(name string, rcvbuf int) *peer.WSConn {
		t.Helper()
		var nd net.Dialer
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err == nil && rcvbuf > 0 {
				_ = c.(*net.TCPConn).SetReadBuffer(rcvbuf)
			}
			return c, err
		}}}
		c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: http.Header{"Authorization": {"Bearer " + e.Token()}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		conn := peer.NewWSConn(c, 0)
		if _, err := peer.ClientHandshake(ctx, conn, name, wire.PeerMetadata{StorageID: name}); err != nil {
			t.Fatal(err)
		}
		return conn
	}
	writer := dial("writer", 0)
	stuck := dial("stuck", 4<<10)
	doc := automerge.New()
	out, _ := automerge.NewSyncState(doc).GenerateMessage()
	if err := stuck.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "stuck", TargetID: "relay", DocumentID: id.String(), Data: out.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err := stuck.Recv(ctx); err != nil || m.Type != wire.TypeSync {
		t.Fatalf("answer to the request: %v %+v", err, m)
	}
	waitLongLived(t, r.Server(), 2)

	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		data := make([]byte, 256<<10)
		for i := range 64 {
			m := &wire.Message{Type: wire.TypeEphemeral, SenderID: "writer", TargetID: "relay", DocumentID: id.String(), SessionID: "s", Count: uint64(i + 1), Data: data}
			if err := writer.Send(ctx, m); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	waitLongLived(t, r.Server(), 1)
	t.Logf("stuck session closed %v after the flood began", time.Since(start))
	if err := <-sent; err != nil {
		t.Fatalf("the writer's flood: %v", err)
	}
}

// syncedPlaylist registers a device of user on r (signing the user up),
// creates a playlist on it and syncs it to the relay; the documents are
// closed when the test ends.
func syncedPlaylist(t *testing.T, r *testbed.Relay, user model.UserID) (*core.Engine, *core.Docs, docs.DocumentID) {
	t.Helper()
	ctx := t.Context()
	e := testbed.Device(t, r, user)
	d, err := e.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	id, err := d.Playlists().Create(ctx, "road trip")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	return e, d, id
}

// waitLongLived waits until srv holds n long-lived connections.
func waitLongLived(t *testing.T, srv *relay.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		open, _ := srv.LongLivedConns()
		if open == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay holds %d long-lived connections, want %d", open, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
