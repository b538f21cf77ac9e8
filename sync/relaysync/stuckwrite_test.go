package relaysync_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// newQueuedServer serves ep as the relay does (peer.QueueListener with
// opts, peer.ConnContext), with 64 KiB socket send buffers so that a
// slow reader makes the relay's writes wait within a few hundred KiB,
// and returns its sync URL.
func newQueuedServer(t *testing.T, ep *relaysync.Endpoint, opts peer.QueueOptions) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(ep)
	srv.Listener = peer.QueueListener(smallSendBuffers{srv.Listener}, opts)
	srv.Config.ConnContext = peer.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync"
}

// smallSendBuffers gives the connections it accepts 64 KiB send buffers.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		_ = c.(*net.TCPConn).SetWriteBuffer(64 << 10)
	}
	return c, err
}

// dialFollower connects as user (with a 4 KiB socket receive buffer
// when small, else 256 KiB), asks the relay
// for document id and reads its answer, so the session follows id.
func dialFollower(t *testing.T, url, user, id string, small bool) *peer.WSConn {
	t.Helper()
	var d net.Dialer
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err == nil {
			// One smaller than the loopback MSS (64 KiB) slows TCP
			// itself below any rate.
			_ = c.(*net.TCPConn).SetReadBuffer(map[bool]int{true: 4 << 10, false: 256 << 10}[small])
		}
		return c, err
	}}}
	c, _, err := websocket.Dial(t.Context(), url+"?token="+user, &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, user+"-follower", wire.PeerMetadata{StorageID: user + "-follower"}); err != nil {
		t.Fatal(err)
	}
	doc := automerge.New()
	ss := automerge.NewSyncState(doc)
	out, _ := ss.GenerateMessage()
	if err := conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: user + "-follower", TargetID: "relay", DocumentID: id, Data: out.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err := conn.Recv(t.Context()); err != nil || m.Type != wire.TypeSync {
		t.Fatalf("answer to the follower's request: %v %+v", err, m)
	}
	return conn
}

// flood sends n ephemeral messages of size bytes for document id over
// conn (the relay forwards each to the document's other followers) and
// returns when they are sent or the connection fails.
func flood(ctx context.Context, conn *peer.WSConn, id string, n, size int) error {
	data := make([]byte, size)
	for i := range n {
		m := &wire.Message{Type: wire.TypeEphemeral, SenderID: "alice-dev", TargetID: "relay", DocumentID: id, SessionID: "s", Count: uint64(i + 1), Data: data}
		if err := conn.Send(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// TestStuckWriteClosed: a follower whose TCP connection stops reading
// while the relay has megabytes of ephemeral messages for it (another
// device's flood) blocks the relay's writes to it once the socket
// buffers are full; with the keepalive off, the connection's write
// deadline (peer.QueueOptions.WithSlowClient, 200 ms + n at 1 MiB/s)
// fails the blocked write, the session is closed and its place under the
// per-user cap is free again. The sending device's session, whose
// handler was forwarding to the stuck one, carries on. Before, the write
// blocked until TCP gave up (never, while the stuck client's kernel
// acknowledges with a zero window) and the follower held its session.
func TestStuckWriteClosed(t *testing.T) {
	const grace, rate = 200 * time.Millisecond, 1 << 20
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithKeepalive(0).WithRate(10000, 10000).WithMaxSessions(0, 2).WithEphemeralRate(64<<20, 64<<20))
	url := newQueuedServer(t, ep, peer.DefaultQueueOptions().WithSlowClient(grace, rate))
	id, doc := playlist(t, false)
	writer := dial(t, url, "alice")
	if m, err := syncUntilQuiet(t, writer, id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice's first sync: %v %+v", err, m)
	}
	waitSessions(t, ep, 0)         // its place under the cap of 2 is free again
	writer = dial(t, url, "alice") // syncUntilQuiet's last read closed it
	dialFollower(t, url, "alice", id.String(), true)
	waitSessions(t, ep, 2)

	start := time.Now()
	sent := make(chan error, 1)
	go func() { sent <- flood(t.Context(), writer, id.String(), 64, 256<<10) }()
	waitSessions(t, ep, 1)
	took := time.Since(start)
	t.Logf("stuck follower closed %v after the flood began", took)
	if got := ep.WriteTimeouts(); got != 1 {
		t.Fatalf("WriteTimeouts() = %d, want 1", got)
	}
	if err := <-sent; err != nil {
		t.Fatalf("the sending device's flood: %v", err)
	}
	// The follower's place is free: alice connects a second device again.
	dial(t, url, "alice")
	waitSessions(t, ep, 2)
}

// TestSlowReaderKept: a follower that reads slower than the relay sends
// (1 MiB/s, so the relay's writes wait for it) but faster than the write
// deadline's minimum rate (256 KiB/s) is not cut: it receives every
// message of the flood. (With 50 ms + n at 8 MiB/s it is cut.)
func TestSlowReaderKept(t *testing.T) {
	const grace, rate = 200 * time.Millisecond, 256 << 10
	const n, size = 16, 128 << 10
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithKeepalive(0).WithRate(10000, 10000).WithEphemeralRate(64<<20, 64<<20))
	url := newQueuedServer(t, ep, peer.DefaultQueueOptions().WithSlowClient(grace, rate))
	id, doc := playlist(t, false)
	writer := dial(t, url, "alice")
	if m, err := syncUntilQuiet(t, writer, id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice's first sync: %v %+v", err, m)
	}
	writer = dial(t, url, "alice")
	slow := dialFollower(t, url, "alice", id.String(), false)
	waitSessions(t, ep, 2)

	sent := make(chan error, 1)
	go func() { sent <- flood(t.Context(), writer, id.String(), n, size) }()
	// About 1 MiB/s: four times the minimum rate, slower than loopback.
	pace := time.NewTicker(time.Second * size / (1 << 20))
	defer pace.Stop()
	for i := range n {
		<-pace.C
		m, err := slow.Recv(t.Context())
		if err != nil {
			t.Fatalf("slow reader cut after %d of %d messages: %v", i, n, err)
		}
		if m.Type != wire.TypeEphemeral || len(m.Data) != size {
			t.Fatalf("message %d: %s of %d bytes, want an ephemeral of %d", i, m.Type, len(m.Data), size)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if got := ep.WriteTimeouts(); got != 0 {
		t.Fatalf("WriteTimeouts() = %d, want 0", got)
	}
}

// TestStuckFollowerNoStall: the relay forwarded an ephemeral message to
// each follower of its document on the sender's session, so a follower
// of a public playlist that stopped reading, once its socket buffers and
// the relay's write queue were full, held the session of every sender —
// its edits and requests included — until its write deadline cut it (30
// s by default), and a reconnect did it again. The sender's other
// messages are now answered at once; the stuck follower's messages wait
// in a bounded queue of their own.
func TestStuckFollowerNoStall(t *testing.T) {
	const grace = 3 * time.Second
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithKeepalive(0).WithEphemeralRate(64<<20, 64<<20))
	url := newQueuedServer(t, ep, peer.DefaultQueueOptions().WithSlowClient(grace, 32<<10))
	id, doc := playlist(t, true)
	upload(t, url, id, doc)
	dialFollower(t, url, "eve", id.String(), true) // never reads again
	req, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	alice := dial(t, url, "alice")
	if err := alice.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "alice-dev", TargetID: "relay", DocumentID: id.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	if m, err := alice.Recv(t.Context()); err != nil || m.Type != wire.TypeSync {
		t.Fatalf("alice's request: %v %+v", err, m)
	}
	start := time.Now()
	// 960 KiB of messages: more than eve's socket buffers and write
	// queue hold.
	if err := flood(t.Context(), alice, id.String(), 16, 60<<10); err != nil {
		t.Fatal(err)
	}
	other := randomID(t)
	if err := alice.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "alice-dev", TargetID: "relay", DocumentID: other.String(), Data: req.Bytes()}); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := alice.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.DocumentID == other.String() {
			break
		}
	}
	if took := time.Since(start); took >= grace {
		t.Fatalf("alice's request answered %v after her messages, want less than the stuck follower's write grace %v", took, grace)
	}
}
