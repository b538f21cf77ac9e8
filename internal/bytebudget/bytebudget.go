// Package bytebudget bounds the bytes of bodies a server holds outside
// its caches (the edge's misses, the relay's blobs being served): a
// caller reserves a body's size before it reads it and releases it once
// the answer is written, and Shares bounds what one client holds of it.
// Over golang.org/x/sync/semaphore.
package bytebudget

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
	return b.AcquireWithin(ctx, n, b.wait)
}

// AcquireWithin is Acquire waiting at most wait (≤ 0: not at all)
// instead of the budget's wait: for a caller that takes room from more
// than one budget under one deadline (the time left of it).
func (b *Budget) AcquireWithin(ctx context.Context, n int64, wait time.Duration) error {
	if n < 0 || n > b.size {
		b.refused.Add(1)
		return fmt.Errorf("%w: %d bytes wanted, budget %d", ErrFull, n, b.size)
	}
	ok := b.sem.TryAcquire(n)
	if !ok && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
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

// Shares is a budget per key (a client address, an account) next to a
// shared Budget, so that one key cannot take the whole of it: each key
// may hold at most Max bytes, and a key's Take waits, as Acquire does,
// for the key's own earlier holds. A key's budget exists while it holds
// bytes or has a caller waiting. Safe for concurrent use.
type Shares struct {
	max  int64
	wait time.Duration
	mu   sync.Mutex
	by   map[string]*share
}

// share is one key's budget and how many callers wait for it.
type share struct {
	b       *Budget
	waiters int
}

// NewShares returns shares of at most size bytes (at least 1) per key
// whose Take waits at most wait (0: never) for room.
func NewShares(size int64, wait time.Duration) *Shares {
	return &Shares{max: max(size, 1), wait: max(wait, 0), by: make(map[string]*share)}
}

// Max returns the bytes one key may hold.
func (s *Shares) Max() int64 { return s.max }

// Take charges n bytes to key, waiting up to the wait for key's earlier
// holds to be given back: an error wrapping ErrFull when they were not,
// ctx's error when ctx ended first.
func (s *Shares) Take(ctx context.Context, key string, n int64) error {
	return s.TakeWithin(ctx, key, n, s.wait)
}

// TakeWithin is Take waiting at most wait (≤ 0: not at all) instead of
// the shares' wait (see Budget.AcquireWithin).
func (s *Shares) TakeWithin(ctx context.Context, key string, n int64, wait time.Duration) error {
	s.mu.Lock()
	sh := s.get(key)
	sh.waiters++
	s.mu.Unlock()
	err := sh.b.AcquireWithin(ctx, n, wait)
	s.mu.Lock()
	sh.waiters--
	s.drop(key, sh)
	s.mu.Unlock()
	return err
}

// TryTake charges n bytes to key if key has room for them now.
func (s *Shares) TryTake(key string, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.get(key)
	ok := sh.b.TryAcquire(n)
	s.drop(key, sh)
	return ok
}

// Give returns n bytes charged to key.
func (s *Shares) Give(key string, n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.by[key]; sh != nil {
		sh.b.Release(n)
		s.drop(key, sh)
	}
}

// Held returns the bytes charged to key now.
func (s *Shares) Held(key string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh := s.by[key]; sh != nil {
		return sh.b.Used()
	}
	return 0
}

// Keys returns how many keys hold bytes or wait for them now.
func (s *Shares) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.by)
}

// get returns key's share, created empty if need be; s.mu is held.
func (s *Shares) get(key string) *share {
	sh := s.by[key]
	if sh == nil {
		sh = &share{b: New(s.max, s.wait)}
		s.by[key] = sh
	}
	return sh
}

// drop forgets key's share once it holds nothing and no one waits for
// it; s.mu is held.
func (s *Shares) drop(key string, sh *share) {
	if sh.waiters == 0 && sh.b.Used() == 0 && s.by[key] == sh {
		delete(s.by, key)
	}
}
