package peer

import (
	"sync/atomic"
	"time"
)

// goPool runs short tasks on goroutines it keeps between them. A
// session's flusher runs once per burst of messages — on a busy relay
// thousands of times a second — and a new
// goroutine starts with the runtime's smallest stack, which the sync path
// (Generate's walks, a message's encoding) grows two or three times over,
// copying it each time: 5 % of a relay's CPU samples at 2,000 edits a
// second went to runtime.copystack, 1.3 % with the pool. A kept
// goroutine's stack stays grown while it is busy. A task never waits for a worker: with
// none idle, Go starts a new one, so the pool adds no queueing and no
// limit beyond the tasks' own. At most maxIdle workers wait for a task,
// each for at most idleFor, so an idle relay keeps none. A pool shared
// by a process must not run code tested inside a testing/synctest bubble
// (a worker started in one would take tasks from outside it): the
// queued connections' writers, tested so, start their own goroutines.
type goPool struct {
	work    chan func()
	idleFor time.Duration
	maxIdle int32
	// idle counts the workers waiting for a task, workers all of them.
	idle, workers atomic.Int32
}

// newGoPool returns a pool keeping at most maxIdle idle workers, each
// for at most idleFor.
func newGoPool(maxIdle int32, idleFor time.Duration) *goPool {
	return &goPool{work: make(chan func()), idleFor: idleFor, maxIdle: maxIdle}
}

// flushPool runs sessions' flushers: a second covers the gaps between a
// busy relay's bursts; 256 idle workers hold a few MiB of stacks at most.
var flushPool = newGoPool(256, time.Second)

// Go runs f on an idle worker, or on a new one.
func (p *goPool) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.workers.Add(1)
		go p.worker(f)
	}
}

// worker runs f, then the tasks handed to it while it waits, until it
// has waited p.idleFor or p.maxIdle others wait already.
func (p *goPool) worker(f func()) {
	defer p.workers.Add(-1)
	idle := time.NewTimer(p.idleFor)
	defer idle.Stop()
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		idle.Reset(p.idleFor)
		select {
		case f = <-p.work:
			p.idle.Add(-1)
		case <-idle.C:
			p.idle.Add(-1)
			return
		}
	}
}
