package social

import (
	"log/slog"
	"slices"
	"sync"
	"time"
)

// latencyWindow is how often the fan-out latency summary is logged.
const latencyWindow = time.Minute

// maxLatencySamples bounds the samples kept per window (later ones in a
// window are counted, not kept: the quantiles are of the first ones).
const maxLatencySamples = 1 << 18

// fanoutLatency measures, on the relay, the time from an activity's
// publication (its stamp) to its frame being written and flushed on each
// friend's stream (an SSE stream or a sync connection), and logs p50/p99/max once per latencyWindow (info,
// "social: activity fan-out"), so load tests can tell the relay's share of
// the end-to-end latency from the client's. Safe for concurrent use.
type fanoutLatency struct {
	log   *slog.Logger
	mu    sync.Mutex
	start time.Time
	n     int
	ms    []float64
}

// record adds the latencies of n events written at now, published at
// at(0) … at(n-1).
func (l *fanoutLatency) record(now time.Time, n int, at func(i int) time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.start.IsZero() {
		l.start = now
	}
	for i := range n {
		l.n++
		if len(l.ms) < maxLatencySamples {
			l.ms = append(l.ms, float64(now.Sub(at(i)).Microseconds())/1000)
		}
	}
	if now.Sub(l.start) < latencyWindow {
		return
	}
	slices.Sort(l.ms)
	q := func(p float64) float64 { return l.ms[min(int(p*float64(len(l.ms))), len(l.ms)-1)] }
	l.log.Info("social: activity fan-out", "events", l.n, "window", now.Sub(l.start).Round(time.Second),
		"p50_ms", q(0.5), "p99_ms", q(0.99), "max_ms", l.ms[len(l.ms)-1])
	l.start, l.n, l.ms = now, 0, l.ms[:0]
}
