package core_test

import (
	"bytes"
	"context"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/vorbis"
)

// emulatedLink emulates the network path to the relay below HTTP, so
// that it charges HTTP/1.1 and HTTP/2 alike for what they do on the wire.
// Injected as the engine's dialer (core.WithDialContext), it wraps every
// connection: a new connection costs one round trip (the TCP handshake;
// TLS is not used here), every byte the client writes reaches the relay
// half a round trip later, and every byte the relay sends crosses one
// bottleneck shared by all connections at bps before arriving half a
// round trip later. TCP slow start and loss are not emulated.
type emulatedLink struct {
	rtt   time.Duration
	bps   float64
	dials atomic.Int32

	mu    sync.Mutex
	free  time.Time // when the bottleneck has sent every byte queued so far
	conns []*linkConn
}

func newEmulatedLink(rtt time.Duration, bps float64) *emulatedLink {
	return &emulatedLink{rtt: rtt, bps: bps}
}

// dial is the engine's DialFunc over the link.
func (l *emulatedLink) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	l.dials.Add(1)
	select {
	case <-time.After(l.rtt):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	lc := &linkConn{Conn: c, l: l, up: make(chan segment, 256), down: make(chan segment, 1024), closed: make(chan struct{})}
	go lc.sendUp()
	go lc.receiveDown()
	l.mu.Lock()
	l.conns = append(l.conns, lc)
	l.mu.Unlock()
	return lc, nil
}

// closeAll closes every connection dialed over the link.
func (l *emulatedLink) closeAll() {
	l.mu.Lock()
	cs := l.conns
	l.conns = nil
	l.mu.Unlock()
	for _, c := range cs {
		c.Close()
	}
}

// transmit queues n bytes on the bottleneck and returns when their last
// byte has left it.
func (l *emulatedLink) transmit(n int) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	if l.free.After(start) {
		start = l.free
	}
	l.free = start.Add(time.Duration(float64(n*8) / l.bps * float64(time.Second)))
	return l.free
}

// segment is bytes (or the end of a direction) due at a time.
type segment struct {
	b   []byte
	due time.Time
	err error
}

// linkConn is one connection over an emulatedLink; the embedded Conn is
// the real loopback connection.
type linkConn struct {
	net.Conn
	l         *emulatedLink
	up        chan segment // written by the client, delivered at due
	down      chan segment // from the relay, readable at due
	pending   []byte
	readErr   error
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *linkConn) Write(b []byte) (int, error) {
	seg := segment{b: bytes.Clone(b), due: time.Now().Add(c.l.rtt / 2)}
	select {
	case c.up <- seg:
		return len(b), nil
	case <-c.closed:
		return 0, net.ErrClosed
	}
}

func (c *linkConn) sendUp() {
	for {
		select {
		case seg := <-c.up:
			time.Sleep(time.Until(seg.due))
			if _, err := c.Conn.Write(seg.b); err != nil {
				c.Close()
				return
			}
		case <-c.closed:
			return
		}
	}
}

func (c *linkConn) receiveDown() {
	buf := make([]byte, 32<<10)
	var last time.Time
	for {
		n, err := c.Conn.Read(buf)
		var seg segment
		if n > 0 {
			last = c.l.transmit(n).Add(c.l.rtt / 2)
			seg = segment{b: bytes.Clone(buf[:n]), due: last}
		}
		if err != nil {
			seg.err, seg.due = err, last
		}
		select {
		case c.down <- seg:
		case <-c.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

func (c *linkConn) Read(b []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.readErr != nil {
			return 0, c.readErr
		}
		select {
		case seg := <-c.down:
			time.Sleep(time.Until(seg.due))
			c.pending, c.readErr = seg.b, seg.err
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(b, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

func (c *linkConn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.Conn.Close()
	})
	return err
}

// ttfa plays one track on a fresh player and returns the time from the
// play request to the first frames reaching the sink.
func ttfa(b *testing.B, e *core.Engine, id model.TrackID, opts player.Options) time.Duration {
	p, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), opts.WithTier(model.TierHigh))
	if err != nil {
		b.Fatal(err)
	}
	defer e.ClosePlayer()
	first := make(chan time.Time, 1)
	p.OnFirstWrite(func() { first <- time.Now() })
	t0 := time.Now()
	if err := p.Play(model.PlayContext{}, []player.Item{{Track: id}}, 0); err != nil {
		b.Fatal(err)
	}
	select {
	case t1 := <-first:
		return t1.Sub(t0)
	case <-time.After(30 * time.Second):
		b.Fatal("no audio within 30 s")
	}
	return 0
}

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// BenchmarkTimeToFirstAudio measures play request → first frames at the
// sink: offline (manifest and blobs cached, content key in memory; a new
// player each play, so its Vorbis setup cache starts empty, and
// "offline-setup-cached": the player options, and so their setup cache,
// kept from the previous play), and online through an emulated 50 ms RTT, 10 Mbit/s link (emulatedLink:
// shared bandwidth, half a round trip each way, a round trip per TCP
// handshake), against the floor of one round trip + header and chunk 0 at
// link rate + first decode (for the cold case, + one round trip for the
// handshake that no protocol avoids). The online cases, for the engine's
// default client (HTTP/2, h2c) and for HTTP/1.1 (WithHTTP2(false)):
//
//   - warm: the engine has just started another track, so every
//     connection it uses is open;
//   - registered: only the registration's connection is open (the
//     engine's normal state: a relay connection kept alive);
//   - cold: a registered engine reopened with no connection at all.
func BenchmarkTimeToFirstAudio(b *testing.B) {
	tb := newTestbed(b)
	id := tb.tracks[0]
	for _, tc := range []struct {
		name string
		opts func() player.Options
	}{
		{"offline", player.DefaultOptions},
		{"offline-setup-cached", func() func() player.Options {
			o := player.DefaultOptions()
			return func() player.Options { return o }
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := tb.openEngine(b, core.DefaultOptions(), tb.url)
			ttfa(b, e, id, tc.opts()) // fills the cache and the key
			var ds []time.Duration
			for b.Loop() {
				ds = append(ds, ttfa(b, e, id, tc.opts()))
			}
			b.ReportMetric(float64(median(ds).Microseconds())/1000, "ttfa_ms")
			b.ReportMetric(0, "ns/op")
		})
	}
	// The floor: one round trip, header and chunk 0 at 10 Mbit/s, and
	// decoding header ‖ chunk 0 to its first block.
	const rtt, bps = 50 * time.Millisecond, 10e6
	e0 := tb.openEngine(b, core.DefaultOptions(), tb.url)
	tr, err := e0.OpenTrack(context.Background(), id, model.TierHigh)
	if err != nil {
		b.Fatal(err)
	}
	m := tr.Manifest()
	hdr, _ := tr.Header(context.Background())
	c0, _ := tr.Chunk(context.Background(), 0)
	t0 := time.Now()
	sr := vorbis.NewStreamReader(bytes.NewReader(append(hdr, c0...)), vorbis.DefaultOptions())
	if _, err := sr.Next(context.Background()); err != nil {
		b.Fatal(err)
	}
	decode := time.Since(t0)
	transfer := time.Duration(float64((m.Header.Size+m.Chunks[0].Blob.Size)*8) / bps * float64(time.Second))
	floor := rtt + transfer + decode
	for _, proto := range []string{"h2", "http1"} {
		for _, state := range []string{"warm", "registered", "cold"} {
			b.Run("online-50ms-10Mbit/"+proto+"/"+state, func(b *testing.B) {
				var ds []time.Duration
				dials := 0
				for b.Loop() {
					b.StopTimer()
					e, link := onlineEngine(b, tb, proto == "h2", state, rtt, bps)
					d0 := link.dials.Load()
					b.StartTimer()
					ds = append(ds, ttfa(b, e, id, player.DefaultOptions()))
					b.StopTimer()
					dials += int(link.dials.Load() - d0)
					e.Close()
					link.closeAll()
					b.StartTimer()
				}
				f := floor
				if state == "cold" {
					f += rtt
				}
				med := median(ds)
				b.ReportMetric(float64(med.Microseconds())/1000, "ttfa_ms")
				b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, "max_ms")
				b.ReportMetric(float64(f.Microseconds())/1000, "floor_ms")
				b.ReportMetric(float64(med)/float64(f), "ratio")
				b.ReportMetric(float64(dials)/float64(len(ds)), "dials/op")
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}

// onlineEngine returns a registered engine on a fresh data directory whose
// connections to tb go over a new emulated link, in the given connection
// state (see BenchmarkTimeToFirstAudio).
func onlineEngine(b *testing.B, tb *testbed, http2 bool, state string, rtt time.Duration, bps float64) (*core.Engine, *emulatedLink) {
	ctx := context.Background()
	link := newEmulatedLink(rtt, bps)
	opts := func(l *emulatedLink) core.Options {
		return core.DefaultOptions().WithHTTP2(http2).WithDialContext(l.dial).WithOrigins(tb.url).WithLogger(quiet())
	}
	dir := b.TempDir()
	e, err := core.Open(ctx, dir, opts(link))
	if err != nil {
		b.Fatal(err)
	}
	if err := e.SignUp(ctx, testUser, testPass); err != nil && !isConflict(err) {
		b.Fatal(err)
	}
	if err := e.Register(ctx, testUser, testPass, "bench device"); err != nil {
		b.Fatal(err)
	}
	switch state {
	case "warm":
		// What starting another track does: manifest ∥ key ∥ header ∥ chunk 0.
		tr, err := e.OpenTrack(ctx, tb.tracks[1], model.TierHigh)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Header(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := tr.Chunk(ctx, 0); err != nil {
			b.Fatal(err)
		}
	case "cold":
		e.Close()
		link.closeAll()
		link = newEmulatedLink(rtt, bps)
		if e, err = core.Open(ctx, dir, opts(link)); err != nil {
			b.Fatal(err)
		}
	}
	return e, link
}
