package repo

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
)

// collector runs the Go garbage collector for automerge's sake: the
// backstop for the automerge results the repo does not free explicitly
// (see WithCollectBudget). automerge-go frees those only in a Go
// finalizer, so their C memory is returned only after a Go collection —
// and the Go collector paces itself on the Go heap alone, in which an
// automerge result is a few dozen bytes. A
// relay with a large, steady Go heap (thousands of connections) then
// collects rarely while C garbage piles up. The collector counts the
// bytes the repo passes through automerge (messages received and
// generated, increments, snapshots, sync states, documents loaded) and,
// once they exceed the budget since the last collection — the Go
// runtime's own or ours — runs one collection from its goroutine.
type collector struct {
	budget  int64
	work    atomic.Int64
	wake    chan struct{}
	done    chan struct{}
	forced  atomic.Uint64
	samples []metrics.Sample
	once    sync.Once
}

func newCollector(budget int64) *collector {
	c := &collector{
		budget:  budget,
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		samples: []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}},
	}
	go c.run()
	return c
}

// add records n bytes of automerge work; past the budget it wakes the
// collector (without blocking).
func (c *collector) add(n int) {
	if c.work.Add(int64(n)) < c.budget {
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *collector) cycles() uint64 {
	metrics.Read(c.samples)
	return c.samples[0].Value.Uint64()
}

func (c *collector) run() {
	last := c.cycles()
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		if c.work.Load() < c.budget {
			continue
		}
		// A collection the runtime ran meanwhile queued the finalizers
		// already: start counting afresh instead of collecting again.
		if now := c.cycles(); now == last {
			runtime.GC()
			c.forced.Add(1)
		}
		last = c.cycles()
		c.work.Store(0)
	}
}

// stop ends the collector's goroutine; it is safe to call more than once.
func (c *collector) stop() { c.once.Do(func() { close(c.done) }) }
