package relay

import (
	"context"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hashGate is a semaphore over a memory budget that every Argon2id
// computation of the relay passes through, so concurrent password checks
// never hold more than the budget. Waiters are bounded in number and in
// time; beyond either the caller gets ErrBusy. Each caller names its
// client (the address); a waiter's rank is how many hashes of its client
// were running or waiting when it arrived. Waiters are served lowest
// rank first (first come first served within a rank), and a newcomer who
// finds the queue full displaces the waiter with the highest rank when
// its own is lower, so a client with many requests in flight cannot keep
// another client's first request out. Safe for concurrent use.
type hashGate struct {
	budget   int64
	maxQueue int
	maxWait  time.Duration
	// after starts a waiter's maxWait timer: its channel fires when the
	// wait runs out, stop releases it (time.NewTimer; tests replace it).
	after func(time.Duration) (fire <-chan time.Time, stop func())

	mu      sync.Mutex
	used    int64
	running int
	peak    int   // most hashes ever running at once
	hashes  int64 // hashes run (fn returned nil)
	bytes   int64 // sum of their memory costs
	seq     uint64
	queue   []*hashWaiter
	byKey   map[string]int // running + waiting per client; no zero entries
}

// hashWaiter is one caller of acquire, waiting or holding its slot.
type hashWaiter struct {
	need    int64
	key     string
	rank    int
	seq     uint64
	granted bool
	evicted bool
	ready   chan struct{} // closed when granted or evicted
}

func newHashGate(budget int64, maxQueue int, maxWait time.Duration) *hashGate {
	return &hashGate{budget: max(budget, 1), maxQueue: max(maxQueue, 0), maxWait: max(maxWait, 0), after: newTimer, byKey: make(map[string]int)}
}

// newTimer is hashGate.after with a real timer.
func newTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

// before reports whether w is served before v.
func (w *hashWaiter) before(v *hashWaiter) bool {
	return w.rank < v.rank || (w.rank == v.rank && w.seq < v.seq)
}

// acquire takes need bytes of the budget (all of it when need exceeds
// it: such a hash runs alone) for client key, waiting in line at most
// maxWait. It returns ErrBusy when the queue is full (and the newcomer
// does not outrank anyone in it), when the wait runs out or when a
// better-ranked newcomer displaced it, and ctx's error when ctx ends
// first. Release the returned slot with release.
func (g *hashGate) acquire(ctx context.Context, need int64, key string) (*hashWaiter, error) {
	need = min(max(need, 1), g.budget)
	g.mu.Lock()
	g.seq++
	w := &hashWaiter{need: need, key: key, rank: g.byKey[key], seq: g.seq, ready: make(chan struct{})}
	if len(g.queue) == 0 && g.used+need <= g.budget {
		g.byKey[key]++
		g.take(w)
		g.mu.Unlock()
		return w, nil
	}
	if len(g.queue) >= g.maxQueue {
		worst := -1
		for i, q := range g.queue {
			if worst < 0 || g.queue[worst].before(q) {
				worst = i
			}
		}
		if worst < 0 || g.queue[worst].rank <= w.rank {
			g.mu.Unlock()
			return nil, retryLater(ErrBusy, time.Second, "%d password checks waiting", g.maxQueue)
		}
		v := g.queue[worst]
		g.remove(v)
		v.evicted = true
		close(v.ready)
	}
	g.byKey[key]++
	g.queue = append(g.queue, w)
	g.mu.Unlock()

	fire, stop := g.after(g.maxWait)
	defer stop()
	var err error
	select {
	case <-w.ready:
	case <-fire:
		err = retryLater(ErrBusy, time.Second, "no password-check slot within %s", g.maxWait)
	case <-ctx.Done():
		err = ctx.Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case w.granted && err == nil:
		return w, nil
	case w.granted:
		g.release(w)
	case w.evicted:
		err = retryLater(ErrBusy, time.Second, "password-check queue is full")
	default:
		g.remove(w)
		g.grant()
	}
	return nil, err
}

// take books w's bytes; g.mu is held.
func (g *hashGate) take(w *hashWaiter) {
	g.used += w.need
	g.running++
	g.peak = max(g.peak, g.running)
	w.granted = true
}

// remove takes w out of the queue and out of its client's count; g.mu is
// held.
func (g *hashGate) remove(w *hashWaiter) {
	if i := slices.Index(g.queue, w); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
	}
	g.uncount(w.key)
}

func (g *hashGate) uncount(key string) {
	if g.byKey[key]--; g.byKey[key] <= 0 {
		delete(g.byKey, key)
	}
}

// grant lets waiters in, best first, while the best fits; g.mu is held.
func (g *hashGate) grant() {
	for len(g.queue) > 0 {
		best := 0
		for i, q := range g.queue {
			if q.before(g.queue[best]) {
				best = i
			}
		}
		w := g.queue[best]
		if g.used+w.need > g.budget {
			return
		}
		g.queue = slices.Delete(g.queue, best, best+1)
		g.take(w)
		close(w.ready)
	}
}

// release returns w's slot; g.mu is held.
func (g *hashGate) release(w *hashWaiter) {
	g.used -= w.need
	g.running--
	g.uncount(w.key)
	g.grant()
}

// do runs fn for client key, which allocates about need bytes that are
// garbage when it returns, holding need bytes of the budget (see
// acquire), and returns fn's error.
// When fn succeeds (it may refuse before allocating), do collects the
// garbage before it hands the slot on: the Go runtime would otherwise let
// the heap grow to twice its live size before collecting, so dead hash
// buffers could pile up next to the live ones, while a collected buffer's
// pages are simply reused by the next hash. When the gate then falls idle
// (the burst is over), the heap is returned to the OS at once, so the
// relay's RSS comes back down instead of waiting for the scavenger.
func (g *hashGate) do(ctx context.Context, need int64, key string, fn func() error) error {
	w, err := g.acquire(ctx, need, key)
	if err != nil {
		return err
	}
	if err = fn(); err == nil {
		runtime.GC()
	}
	g.mu.Lock()
	g.release(w)
	if err == nil {
		g.hashes++
		g.bytes += w.need
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
