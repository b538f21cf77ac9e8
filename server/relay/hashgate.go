package relay

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// hashGate is a FIFO semaphore over a memory budget that every Argon2id
// computation of the relay passes through, so concurrent password checks
// never hold more than the budget. Waiters are bounded in number and in
// time; beyond either the caller gets ErrBusy. Safe for concurrent use.
type hashGate struct {
	budget   int64
	maxQueue int
	maxWait  time.Duration

	mu      sync.Mutex
	used    int64
	running int
	peak    int   // most hashes ever running at once
	hashes  int64 // hashes run (fn returned nil)
	bytes   int64 // sum of their memory costs
	queue   []*hashWaiter
}

type hashWaiter struct {
	need    int64
	granted bool
	ready   chan struct{}
}

func newHashGate(budget int64, maxQueue int, maxWait time.Duration) *hashGate {
	return &hashGate{budget: max(budget, 1), maxQueue: max(maxQueue, 0), maxWait: max(maxWait, 0)}
}

// acquire takes need bytes of the budget (all of it when need exceeds
// it: such a hash runs alone), waiting in line at most maxWait. It
// returns ErrBusy when the queue is full or the wait runs out, and ctx's
// error when ctx ends first. Release what acquire returned.
func (g *hashGate) acquire(ctx context.Context, need int64) (int64, error) {
	need = min(max(need, 1), g.budget)
	g.mu.Lock()
	if len(g.queue) == 0 && g.used+need <= g.budget {
		g.take(need)
		g.mu.Unlock()
		return need, nil
	}
	if len(g.queue) >= g.maxQueue {
		g.mu.Unlock()
		return 0, retryLater(ErrBusy, time.Second, "%d password checks waiting", g.maxQueue)
	}
	w := &hashWaiter{need: need, ready: make(chan struct{})}
	g.queue = append(g.queue, w)
	g.mu.Unlock()

	timer := time.NewTimer(g.maxWait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return need, nil
	case <-timer.C:
		err = retryLater(ErrBusy, time.Second, "no password-check slot within %s", g.maxWait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if w.granted {
		g.release(need)
		return 0, err
	}
	for i, q := range g.queue {
		if q == w {
			g.queue = append(g.queue[:i], g.queue[i+1:]...)
			break
		}
	}
	g.grant()
	return 0, err
}

// take books need bytes; g.mu is held.
func (g *hashGate) take(need int64) {
	g.used += need
	g.running++
	g.peak = max(g.peak, g.running)
}

// grant lets waiters in, in order, while they fit; g.mu is held.
func (g *hashGate) grant() {
	for len(g.queue) > 0 && g.used+g.queue[0].need <= g.budget {
		w := g.queue[0]
		g.queue = g.queue[1:]
		g.take(w.need)
		w.granted = true
		close(w.ready)
	}
}

// release returns n bytes of the budget; g.mu is held.
func (g *hashGate) release(n int64) {
	g.used -= n
	g.running--
	g.grant()
}

// do runs fn, which allocates about need bytes that are garbage when it
// returns, holding need bytes of the budget, and returns fn's error.
// When fn succeeds (it may refuse before allocating), do collects the
// garbage before it hands the slot on: the Go runtime would otherwise let
// the heap grow to twice its live size before collecting, so dead hash
// buffers could pile up next to the live ones, while a collected buffer's
// pages are simply reused by the next hash. When the gate then falls idle
// (the burst is over), the heap is returned to the OS at once, so the
// relay's RSS comes back down instead of waiting for the scavenger.
func (g *hashGate) do(ctx context.Context, need int64, fn func() error) error {
	n, err := g.acquire(ctx, need)
	if err != nil {
		return err
	}
	if err = fn(); err == nil {
		runtime.GC()
	}
	g.mu.Lock()
	g.release(n)
	if err == nil {
		g.hashes++
		g.bytes += n
	}
	idle := g.running == 0 && len(g.queue) == 0
	g.mu.Unlock()
	if err == nil && idle {
		debug.FreeOSMemory()
	}
	return err
}

// gateStats is a snapshot of a hashGate's counters.
type gateStats struct {
	running, peak, waiting int
	hashes, bytes          int64
}

func (g *hashGate) stats() gateStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return gateStats{running: g.running, peak: g.peak, waiting: len(g.queue), hashes: g.hashes, bytes: g.bytes}
}

// collectors exposes the gate on /metrics: hashes running and waiting,
// and hashes run in total.
func (g *hashGate) collectors() []prometheus.Collector {
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "segue", Subsystem: "relay", Name: name, Help: help}
	}
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("password_hashes_running", "Argon2id computations running now.")),
			func() float64 { return float64(g.stats().running) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts("password_hashes_waiting", "Password checks waiting for hashing memory.")),
			func() float64 { return float64(g.stats().waiting) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts(opts("password_hashes_total", "Argon2id computations run.")),
			func() float64 { return float64(g.stats().hashes) }),
	}
}
