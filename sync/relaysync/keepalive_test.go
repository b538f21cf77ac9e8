package relaysync_test

import (
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/sync/relaysync"
)

// blackhole is a TCP proxy in front of a relay whose forwarding can be
// cut: the connections stay open at both ends but nothing more passes,
// as when a device's network vanishes without a FIN behind a NAT or a
// proxy that keeps the relay's side of the connection.
type blackhole struct {
	cut atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
}

// newBlackhole proxies to the relay at rawURL (http://host:port/...) and
// returns the proxy and rawURL rewritten to go through it.
func newBlackhole(t *testing.T, rawURL string) (*blackhole, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, target := &blackhole{}, u.Host
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			b.mu.Lock()
			b.conns = append(b.conns, c, s)
			b.mu.Unlock()
			go b.pipe(s, c)
			go b.pipe(c, s)
		}
	}()
	u.Host = ln.Addr().String()
	return b, u.String()
}

// pipe copies src to dst until cut, then reads and drops what src sends.
func (b *blackhole) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !b.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TestKeepalive: of two idle sessions, one whose device stops answering
// (a proxy that stops forwarding) is pinged by the keepalive's second
// sweep after it was last heard and closed by the third, which frees its
// place under the per-user cap (the user connects again), while one whose
// device answers every ping is kept sweep after sweep. The sweeps run on
// an injected timer scheduled with the keepalive period.
func TestKeepalive(t *testing.T) {
	const period = time.Minute
	sweeps := make(chan func(), 4)
	after := func(d time.Duration, f func()) func() bool {
		if d != period {
			t.Errorf("scheduled after %v, want the keepalive period %v", d, period)
		}
		sweeps <- f
		return func() bool { return true }
	}
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithAfterFunc(after).WithKeepalive(period).WithMaxSessions(0, 1))
	srv := newServer(t, ep)
	proxy, viaProxy := newBlackhole(t, srv)

	alive := dial(t, srv, "alice")
	go func() {
		// Reading answers the relay's pings.
		for {
			if _, err := alive.Recv(t.Context()); err != nil {
				return
			}
		}
	}()
	dial(t, viaProxy, "bob")
	proxy.cut.Store(true)
	waitPeers(t, ep, 2)

	sweep := func() {
		t.Helper()
		select {
		case f := <-sweeps:
			f()
		case <-time.After(10 * time.Second):
			t.Fatal("no keepalive sweep scheduled")
		}
	}
	answered := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for ep.Keepalive().Answered < n {
			if time.Now().After(deadline) {
				t.Fatalf("keepalive: %+v, want %d pings answered", ep.Keepalive(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	sweep() // both were heard (their handshakes): nothing sent
	if got := ep.Keepalive(); got != (relaysync.KeepaliveStats{}) {
		t.Fatalf("after the first sweep: %+v, want no pings", got)
	}
	sweep() // both silent for a whole period: pinged
	sent(t, ep, 2)
	if got := ep.Keepalive(); got.Closed != 0 {
		t.Fatalf("after the second sweep: %+v, want none closed", got)
	}
	answered(1)
	sweep() // bob did not answer: closed; alice did
	if got := ep.Keepalive(); got.Closed != 1 {
		t.Fatalf("after the third sweep: %+v, want bob's session closed", got)
	}
	waitSessions(t, ep, 1)
	bob, st, _ := dialStatus(t, srv, "bob")
	if st != 0 {
		t.Fatalf("bob reconnecting after his dead session was closed: HTTP %d", st)
	}
	bob.CloseNow()
	waitSessions(t, ep, 1)
	for i := uint64(2); i < 6; i++ {
		sweep() // silent again since her last pong: pinged
		sent(t, ep, i+1)
		answered(i)
		sweep() // her pong was heard: nothing sent
	}
	if got := ep.Keepalive(); got.Closed != 1 || got.Answered != got.Pings-1 {
		t.Fatalf("after answering every ping: %+v, want only bob's first session closed", got)
	}
	if n := ep.Sessions(); n != 1 {
		t.Fatalf("endpoint serves %d sessions, want alice's", n)
	}
}

// sent waits until ep's keepalive has sent n pings.
func sent(t *testing.T, ep *relaysync.Endpoint, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ep.Keepalive().Pings < n {
		if time.Now().After(deadline) {
			t.Fatalf("keepalive: %+v, want %d pings sent", ep.Keepalive(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestKeepalivePingBound: with room for one ping waiting for its pong,
// of two dead sessions pinged by one sweep only the first ping is sent;
// the next sweep closes that session only (the other's ping was not
// sent, so its silence proves nothing yet), which frees the room, and
// the sweep after that closes the second.
func TestKeepalivePingBound(t *testing.T) {
	const period = time.Minute
	sweeps := make(chan func(), 4)
	after := func(_ time.Duration, f func()) func() bool {
		sweeps <- f
		return func() bool { return true }
	}
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions().WithAfterFunc(after).WithKeepalive(period))
	relaysync.SetPingSlots(ep, 1)
	srv := newServer(t, ep)
	proxy, viaProxy := newBlackhole(t, srv)
	dial(t, viaProxy, "alice")
	dial(t, viaProxy, "bob")
	proxy.cut.Store(true)
	waitPeers(t, ep, 2)
	sweep := func() {
		t.Helper()
		select {
		case f := <-sweeps:
			f()
		case <-time.After(10 * time.Second):
			t.Fatal("no keepalive sweep scheduled")
		}
	}
	sweep() // heard at their handshakes
	sweep() // both due a ping: one sent, one waits for the room
	sent(t, ep, 1)
	if got := ep.Keepalive(); got.Pings != 1 {
		t.Fatalf("after the second sweep: %+v, want 1 ping sent while it waits for its pong", got)
	}
	sweep() // the pinged one is closed; the other's ping goes out
	if got := ep.Keepalive(); got.Closed != 1 {
		t.Fatalf("after the third sweep: %+v, want only the pinged session closed", got)
	}
	sent(t, ep, 2)
	waitSessions(t, ep, 1)
	sweep()
	if got := ep.Keepalive(); got.Closed != 2 {
		t.Fatalf("after the fourth sweep: %+v, want both closed", got)
	}
	waitSessions(t, ep, 0)
}

// waitPeers waits until ep serves n sessions past their handshake.
func waitPeers(t *testing.T, ep *relaysync.Endpoint, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ep.Peers() != n {
		if time.Now().After(deadline) {
			t.Fatalf("endpoint has %d peers, want %d", ep.Peers(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
