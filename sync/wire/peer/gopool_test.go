package peer

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitWorkers waits up to 5 s for p's workers to be at most limit and
// returns the last count.
func waitWorkers(p *goPool, limit int32) int32 {
	n := p.workers.Load()
	for deadline := time.Now().Add(5 * time.Second); n > limit && time.Now().Before(deadline); n = p.workers.Load() {
		time.Sleep(10 * time.Millisecond)
	}
	return n
}

// TestGoPool: tasks run one after another reuse kept workers; a task
// never waits for a busy worker (100 tasks blocked at once all run); at
// most maxIdle workers stay once they are done, and none after idleFor.
func TestGoPool(t *testing.T) {
	// No worker exits during the loop (idleFor is far longer, maxIdle
	// above the count): the live workers are all those started.
	p := newGoPool(100, 5*time.Second)
	for range 50 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		// The worker goes back to waiting before it takes the next.
		for p.idle.Load() == 0 {
			runtime.Gosched()
		}
	}
	// A task handed over while the worker is between its count and its
	// wait starts another: a few, not one a task.
	if got := p.workers.Load(); got > 5 {
		t.Fatalf("50 tasks one after another started %d workers", got)
	}

	p = newGoPool(4, 300*time.Millisecond)

	const n = 100
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	for range n {
		p.Go(func() { started.Done(); release.Wait() })
	}
	started.Wait() // every task runs at once: none waited for another
	if got := p.workers.Load(); got != n {
		t.Fatalf("%d blocked tasks on %d workers", n, got)
	}
	release.Done()
	if got := waitWorkers(p, 4); got > 4 || p.idle.Load() > 4 {
		t.Fatalf("after the burst: %d workers, %d idle; want at most 4", got, p.idle.Load())
	}
	if got := waitWorkers(p, 0); got != 0 || p.idle.Load() != 0 {
		t.Fatalf("after idleFor: %d workers, %d idle", got, p.idle.Load())
	}
	done := make(chan struct{})
	p.Go(func() { close(done) })
	<-done
}
