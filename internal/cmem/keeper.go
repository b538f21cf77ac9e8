package cmem

import (
	"context"
	"log/slog"
	"time"
)

// KeeperOptions configure Keep. Start from DefaultKeeperOptions.
type KeeperOptions struct {
	interval time.Duration
	minFree  uint64
	logger   *slog.Logger
	stats    func() Heap
	trim     func() bool
	// wake is where Wake's requests arrive (wakes; a test's own).
	wake <-chan struct{}
}

// wakes carries Wake's requests to Keep: one pending at most.
var wakes = make(chan struct{}, 1)

// Wake asks Keep to check now instead of at its next tick: call it
// right after freeing much C memory at once (a whole automerge
// document), so that the allocator does not hold it, resident, for up
// to an interval. It never blocks; with no Keep running the request
// waits, one at most, for the next one to start.
func Wake() {
	select {
	case wakes <- struct{}{}:
	default:
	}
}

// DefaultKeeperOptions returns: a check every 5 s, trimming once the
// allocator holds more than 32 MiB of freed memory, slog.Default().
func DefaultKeeperOptions() KeeperOptions {
	return KeeperOptions{interval: 5 * time.Second, minFree: 32 << 20, logger: slog.Default(), stats: Stats, trim: Trim, wake: wakes}
}

// WithInterval returns o checking every d; values ≤ 0 keep the default.
func (o KeeperOptions) WithInterval(d time.Duration) KeeperOptions {
	if d > 0 {
		o.interval = d
	}
	return o
}

// WithMinFree returns o trimming only once the allocator holds more than
// n bytes of freed memory (a trim costs a walk of the arenas, and memory
// about to be reused need not go back); 0 keeps the default.
func (o KeeperOptions) WithMinFree(n uint64) KeeperOptions {
	if n > 0 {
		o.minFree = n
	}
	return o
}

// WithLogger returns o logging each trim at debug level to l.
func (o KeeperOptions) WithLogger(l *slog.Logger) KeeperOptions { o.logger = l; return o }

// shouldTrim is the keeper's decision: trim when the freed memory the
// allocator holds exceeds minFree.
func shouldTrim(h Heap, minFree uint64) bool { return h.Free > minFree }

// Keep returns freed C memory to the operating system until ctx ends:
// every interval, and at each Wake, it reads Stats and calls Trim when
// the allocator holds more than the minimum of freed memory. It returns
// at once when the platform is not Supported. Run it in its own
// goroutine.
func Keep(ctx context.Context, o KeeperOptions) {
	if !Supported() {
		return
	}
	t := time.NewTicker(o.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
		o.check()
	}
}

// check runs one round of Keep.
func (o KeeperOptions) check() (trimmed bool) {
	h := o.stats()
	if !shouldTrim(h, o.minFree) {
		return false
	}
	trimmed = o.trim()
	after := o.stats()
	o.logger.Debug("cmem: returned freed C memory", "in_use", h.InUse, "free_before", h.Free, "free_after", after.Free, "trimmed", trimmed)
	return trimmed
}
