package msync

import (
	"fmt"
	"sync/atomic"
)

// ErrWaitBudget is returned, wrapping ErrQueueFull, by ApplyCharged for
// a message whose changes would wait for their dependencies past the
// budget (WaitBudget) they are charged to: the writer's, across every
// document, or the one of all writers.
var ErrWaitBudget = fmt.Errorf("%w across documents", ErrQueueFull)

// WaitBudget bounds the bytes of changes automerge keeps queued for
// missing dependencies across documents (MaxQueuedBytes bounds one
// document): a budget per writer whose parent is the budget of all of
// them. A queued change is charged to the budget of the message that
// brought it, when ApplyCharged queues it, and returned when its
// graph adds it (its dependencies arrived) or drops it (Graph.Release).
// It is safe for concurrent use: charging and returning are atomic adds.
type WaitBudget struct {
	used   atomic.Int64
	max    int64
	parent *WaitBudget
}

// NewWaitBudget returns a budget of max bytes (max < 1: none may wait)
// whose charges also count against parent (nil: none).
func NewWaitBudget(max int64, parent *WaitBudget) *WaitBudget {
	return &WaitBudget{max: max, parent: parent}
}

// Used returns the bytes charged to b and not yet returned.
func (b *WaitBudget) Used() int64 { return b.used.Load() }

// Max returns b's limit in bytes.
func (b *WaitBudget) Max() int64 { return b.max }

// reserve charges n bytes to b and its parents when none of them would
// pass its limit, and reports whether it did; otherwise it charges
// nothing and returns the budget that would have passed.
func (b *WaitBudget) reserve(n int64) (*WaitBudget, bool) {
	for c := b; c != nil; c = c.parent {
		if c.used.Add(n) > c.max {
			for u := b; u != c.parent; u = u.parent {
				u.used.Add(-n)
			}
			return c, false
		}
	}
	return nil, true
}

// release returns n bytes to b and its parents; b may be nil.
func (b *WaitBudget) release(n int64) {
	for c := b; c != nil; c = c.parent {
		c.used.Add(-n)
	}
}
