// Package bytebudget bounds the bytes of bodies a server holds outside
// its caches (the edge's misses, the relay's blobs being served): a
// caller reserves a body's size before it reads it and releases it once
// the answer is written. Over golang.org/x/sync/semaphore.
package bytebudget

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// ErrFull means no room came within the budget's wait.
var ErrFull = errors.New("byte budget full")

// Budget is a byte budget with a bounded wait. Safe for concurrent use.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
	wait time.Duration

	used, peak, refused atomic.Int64
}

// New returns a budget of size bytes (at least 1) whose Acquire waits at
// most wait (0: never) for room.
func New(size int64, wait time.Duration) *Budget {
	size = max(size, 1)
	return &Budget{sem: semaphore.NewWeighted(size), size: size, wait: max(wait, 0)}
}

// Size returns the budget in bytes.
func (b *Budget) Size() int64 { return b.size }

// Acquire reserves n bytes, waiting at most the budget's wait for room
// (first come, first served). It returns an error wrapping ErrFull when
// no room came or n exceeds the whole budget, and ctx's error when ctx
// ended first.
func (b *Budget) Acquire(ctx context.Context, n int64) error {
	if n < 0 || n > b.size {
		b.refused.Add(1)
		return fmt.Errorf("%w: %d bytes wanted, budget %d", ErrFull, n, b.size)
	}
	ok := b.sem.TryAcquire(n)
	if !ok && b.wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, b.wait)
		ok = b.sem.Acquire(wctx, n) == nil
		cancel()
	}
	if !ok {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.refused.Add(1)
		return fmt.Errorf("%w: %d bytes wanted, %d of %d held", ErrFull, n, b.used.Load(), b.size)
	}
	u := b.used.Add(n)
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return nil
}

// TryAcquire reserves n bytes if there is room now.
func (b *Budget) TryAcquire(n int64) bool {
	if n < 0 || n > b.size || !b.sem.TryAcquire(n) {
		return false
	}
	u := b.used.Add(n)
	for p := b.peak.Load(); u > p && !b.peak.CompareAndSwap(p, u); p = b.peak.Load() {
	}
	return true
}

// Release returns n bytes a caller reserved.
func (b *Budget) Release(n int64) {
	if n <= 0 {
		return
	}
	b.used.Add(-n)
	b.sem.Release(n)
}

// Used returns the bytes reserved now.
func (b *Budget) Used() int64 { return b.used.Load() }

// Peak returns the most bytes ever reserved at once.
func (b *Budget) Peak() int64 { return b.peak.Load() }

// Refused returns how many Acquire calls found no room.
func (b *Budget) Refused() int64 { return b.refused.Load() }
