package core_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
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

// emulatedLink is an http.RoundTripper, over a Transport of its own,
// emulating a link to the relay: every request waits one round trip
// before its response starts, every new TCP connection one more (the
// handshake; TLS is not emulated), and all response bodies share the
// bandwidth — each body read reserves its bytes on the one link, so
// concurrent transfers take turns and finish no earlier than their total
// size allows.
type emulatedLink struct {
	rtt   time.Duration
	bps   float64
	tr    *http.Transport
	dials atomic.Int32

	mu   sync.Mutex
	free time.Time // when the link has sent every byte reserved so far
}

func newEmulatedLink(rtt time.Duration, bps float64) *emulatedLink {
	l := &emulatedLink{rtt: rtt, bps: bps}
	var d net.Dialer
	l.tr = &http.Transport{MaxIdleConnsPerHost: 8, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		l.dials.Add(1)
		select {
		case <-time.After(rtt):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return d.DialContext(ctx, network, addr)
	}}
	return l
}

func (l *emulatedLink) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.tr.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	select {
	case <-time.After(l.rtt):
	case <-r.Context().Done():
		resp.Body.Close()
		return nil, r.Context().Err()
	}
	resp.Body = &pacedBody{rc: resp.Body, l: l}
	return resp, nil
}

// reserve queues n bytes on the link and returns when they have arrived.
func (l *emulatedLink) reserve(n int) {
	l.mu.Lock()
	start := time.Now()
	if l.free.After(start) {
		start = l.free
	}
	l.free = start.Add(time.Duration(float64(n*8) / l.bps * float64(time.Second)))
	due := l.free
	l.mu.Unlock()
	time.Sleep(time.Until(due))
}

type pacedBody struct {
	rc io.ReadCloser
	l  *emulatedLink
}

func (p *pacedBody) Read(b []byte) (int, error) {
	n, err := p.rc.Read(b)
	if n > 0 {
		p.l.reserve(n)
	}
	return n, err
}

func (p *pacedBody) Close() error { return p.rc.Close() }

// ttfa plays one track on a fresh player and returns the time from the
// play request to the first frames reaching the sink.
func ttfa(b *testing.B, e *core.Engine, id model.TrackID) time.Duration {
	p, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions().WithTier(model.TierHigh))
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
// sink: offline (manifest and blobs cached, content key in memory), and
// online through an emulated 50 ms RTT, 10 Mbit/s link (shared bandwidth,
// a round trip per request and per TCP handshake), against the floor of
// one round trip + header and chunk 0 at link rate + first decode. The
// online case runs with the engine's connections already open (warm) and
// with only the registration's connection open (cold-connections): the
// engine's four concurrent requests then need three handshakes.
func BenchmarkTimeToFirstAudio(b *testing.B) {
	tb := newTestbed(b)
	id := tb.tracks[0]
	b.Run("offline", func(b *testing.B) {
		e := tb.openEngine(b, core.DefaultOptions(), tb.url)
		ttfa(b, e, id) // fills the cache and the key
		var ds []time.Duration
		for b.Loop() {
			ds = append(ds, ttfa(b, e, id))
		}
		b.ReportMetric(float64(median(ds).Microseconds())/1000, "ttfa_ms")
		b.ReportMetric(0, "ns/op")
	})
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
	// warm: the engine's connections are open (as with HTTP/2 to a relay
	// it already talks to, or HTTP/1.1 keep-alive after earlier requests);
	// cold: only the registration's connection is, so concurrent requests
	// beyond it pay a TCP handshake first.
	for _, warm := range []bool{true, false} {
		name := "online-50ms-10Mbit/warm"
		if !warm {
			name = "online-50ms-10Mbit/cold-connections"
		}
		b.Run(name, func(b *testing.B) {
			var ds []time.Duration
			dials := 0
			for b.Loop() {
				b.StopTimer()
				link := newEmulatedLink(rtt, bps)
				e := tb.openEngine(b, core.DefaultOptions().WithHTTPClient(&http.Client{Transport: link}), tb.url)
				if warm {
					warmConnections(b, link, tb.url, 4)
				}
				d0 := link.dials.Load()
				b.StartTimer()
				ds = append(ds, ttfa(b, e, id))
				b.StopTimer()
				dials += int(link.dials.Load() - d0)
				e.Close()
				link.tr.CloseIdleConnections()
				b.StartTimer()
			}
			med := median(ds)
			b.ReportMetric(float64(med.Microseconds())/1000, "ttfa_ms")
			b.ReportMetric(float64(floor.Microseconds())/1000, "floor_ms")
			b.ReportMetric(float64(med)/float64(floor), "ratio")
			b.ReportMetric(float64(dials)/float64(len(ds)), "dials/op")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// warmConnections opens n idle connections to base through link.
func warmConnections(b *testing.B, link *emulatedLink, base string, n int) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, base+"/healthz", nil)
			resp, err := link.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
}
