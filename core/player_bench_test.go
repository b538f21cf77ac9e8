package core_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/vorbis"
)

// emulatedLink is an http.RoundTripper adding one round trip of latency
// to every request and pacing response bodies at a fixed bandwidth.
type emulatedLink struct {
	rtt time.Duration
	bps float64
}

func (l emulatedLink) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-time.After(l.rtt):
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &pacedBody{rc: resp.Body, bps: l.bps, start: time.Now()}
	return resp, nil
}

type pacedBody struct {
	rc    io.ReadCloser
	bps   float64
	start time.Time
	n     int64
}

func (p *pacedBody) Read(b []byte) (int, error) {
	n, err := p.rc.Read(b)
	p.n += int64(n)
	if due := p.start.Add(time.Duration(float64(p.n*8) / p.bps * float64(time.Second))); time.Until(due) > 0 {
		time.Sleep(time.Until(due))
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
// online through an emulated 50 ms RTT, 10 Mbit/s link, against the
// physical floor of one round trip + first-chunk transfer + first decode.
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
	b.Run("online-50ms-10Mbit", func(b *testing.B) {
		link := emulatedLink{rtt: 50 * time.Millisecond, bps: 10e6}
		// The floor: one round trip, chunk 0 at 10 Mbit/s, and decoding
		// header ‖ chunk 0 to its first block.
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
		transfer := time.Duration(float64((m.Header.Size+m.Chunks[0].Blob.Size)*8) / link.bps * float64(time.Second))
		floor := link.rtt + transfer + decode
		var ds []time.Duration
		for b.Loop() {
			b.StopTimer()
			e := tb.openEngine(b, core.DefaultOptions().WithHTTPClient(&http.Client{Transport: link}), tb.url)
			b.StartTimer()
			ds = append(ds, ttfa(b, e, id))
			b.StopTimer()
			e.Close()
			b.StartTimer()
		}
		med := median(ds)
		b.ReportMetric(float64(med.Microseconds())/1000, "ttfa_ms")
		b.ReportMetric(float64(floor.Microseconds())/1000, "floor_ms")
		b.ReportMetric(float64(med)/float64(floor), "ratio")
		b.ReportMetric(0, "ns/op")
	})
}
