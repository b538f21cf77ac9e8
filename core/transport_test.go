package core_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
)

// h2Preface opens every cleartext HTTP/2 connection (RFC 9113 §3.4).
var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// connCounter is a TCP forwarder on 127.0.0.1 in front of a server: it
// counts the connections clients open (at accept, used or not) and notes
// which ones began with the HTTP/2 preface.
type connCounter struct {
	ln net.Listener

	mu    sync.Mutex
	conns int
	h2    int
}

func newConnCounter(t testing.TB, target string) *connCounter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCounter{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			go c.forward(in, target)
		}
	}()
	return c
}

func (c *connCounter) url() string { return "http://" + c.ln.Addr().String() }

// counts returns the connections accepted so far and how many of them
// spoke HTTP/2.
func (c *connCounter) counts() (conns, h2 int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conns, c.h2
}

func (c *connCounter) reset() {
	c.mu.Lock()
	c.conns, c.h2 = 0, 0
	c.mu.Unlock()
}

func (c *connCounter) forward(in net.Conn, target string) {
	defer in.Close()
	c.mu.Lock()
	c.conns++
	c.mu.Unlock()
	// Every request line or preface is longer than the preface.
	in.SetReadDeadline(time.Now().Add(10 * time.Second))
	head := make([]byte, len(h2Preface))
	if _, err := io.ReadFull(in, head); err != nil {
		return
	}
	in.SetReadDeadline(time.Time{})
	if bytes.Equal(head, h2Preface) {
		c.mu.Lock()
		c.h2++
		c.mu.Unlock()
	}
	out, err := net.Dial("tcp", target)
	if err != nil {
		return
	}
	defer out.Close()
	if _, err := out.Write(head); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Copy(in, out)
		in.Close()
		close(done)
	}()
	io.Copy(out, in)
	out.Close()
	<-done
}

// protoRecorder records the protocol of every request reaching a handler.
// An HTTP/1.1 net/http server hands the HTTP/2 preface to the handler as
// a "PRI *" request (for h2c upgrade handlers); it is counted apart.
type protoRecorder struct {
	h      http.Handler
	mu     sync.Mutex
	protos map[string]int
	pri    int
}

func (p *protoRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if r.Method == "PRI" {
		p.pri++
	} else {
		p.protos[r.Proto]++
	}
	p.mu.Unlock()
	p.h.ServeHTTP(w, r)
}

// openTrackStart does what starting playback does at the network: open
// the track (manifest ∥ key ∥ header ∥ chunk 0) and read header and chunk 0.
func openTrackStart(t *testing.T, e *core.Engine, id model.TrackID) {
	t.Helper()
	ctx := context.Background()
	tr, err := e.OpenTrack(ctx, id, model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Header(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Chunk(ctx, 0); err != nil {
		t.Fatal(err)
	}
}

// TestOneConnectionPerTrack checks that with the default options the
// engine's concurrent requests for a track share one HTTP/2 connection —
// the one registration opened, or a single new one for an engine that
// starts with none — and that with HTTP/2 off or against an HTTP/1.1-only
// relay the engine still streams over HTTP/1.1.
func TestOneConnectionPerTrack(t *testing.T) {
	tb := newTestbed(t)
	relayAddr := tb.url[len("http://"):]
	h1Relay := &protoRecorder{h: tb.srv.Handler(), protos: map[string]int{}}
	h1Server := httptest.NewServer(h1Relay) // HTTP/1.1 only
	t.Cleanup(h1Server.Close)
	cases := []struct {
		name   string
		target string // what the counter forwards to
		opts   core.Options
		reopen bool // measure a freshly opened, already registered engine
		// wantConns, wantH2: connections opened by registration + the
		// track's requests (-1: at least one); wantH2 of them HTTP/2.
		wantConns, wantH2 int
	}{
		{"h2c relay: registration's connection serves the track", relayAddr, core.DefaultOptions(), false, 1, 1},
		{"h2c relay: engine with no connection dials once", relayAddr, core.DefaultOptions(), true, 1, 1},
		{"HTTP/2 off", relayAddr, core.DefaultOptions().WithHTTP2(false), false, -1, 0},
		{"HTTP/1.1-only relay: one h2c probe, then HTTP/1.1", h1Server.Listener.Addr().String(), core.DefaultOptions(), false, -1, 1},
	}
	// Dials take 20 ms, as over a real link, so that concurrent requests
	// find no connection ready and would each dial one if allowed to.
	var d net.Dialer
	slowDial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		time.Sleep(20 * time.Millisecond)
		return d.DialContext(ctx, network, addr)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc := newConnCounter(t, c.target)
			ctx := context.Background()
			dir := t.TempDir()
			e, err := core.Open(ctx, dir, c.opts.WithDialContext(slowDial).WithOrigins(cc.url()).WithLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { e.Close() }()
			if err := e.SignUp(ctx, testUser, testPass); err != nil && !isConflict(err) {
				t.Fatal(err)
			}
			if err := e.Register(ctx, testUser, testPass, "test device"); err != nil {
				t.Fatal(err)
			}
			if c.reopen {
				e.Close()
				cc.reset()
				// A new Options value: a new client with no connections.
				if e, err = core.Open(ctx, dir, c.opts.WithDialContext(slowDial).WithOrigins(cc.url()).WithLogger(quiet())); err != nil {
					t.Fatal(err)
				}
			}
			openTrackStart(t, e, tb.tracks[0])
			time.Sleep(100 * time.Millisecond) // any other dial in flight connects
			conns, h2 := cc.counts()
			if c.wantConns >= 0 && conns != c.wantConns || conns < 1 {
				t.Errorf("%d connections, want %d", conns, c.wantConns)
			}
			if h2 != c.wantH2 {
				t.Errorf("%d HTTP/2 connections, want %d", h2, c.wantH2)
			}
			t.Logf("%d connections, %d HTTP/2", conns, h2)
		})
	}
	h1Relay.mu.Lock()
	defer h1Relay.mu.Unlock()
	if len(h1Relay.protos) != 1 || h1Relay.protos["HTTP/1.1"] == 0 || h1Relay.pri != 1 {
		t.Errorf("HTTP/1.1-only relay saw %v and %d prefaces, want HTTP/1.1 requests and one preface", h1Relay.protos, h1Relay.pri)
	}
}
