package msync

import (
	"fmt"
	"sync"
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
//
// A parent made by NewFairWaitBudget keeps part of its bytes for
// writers within their floor (NewFloorWaitBudget), so that a few heavy
// writers cannot fill it: a charge that takes a writer past its floor
// is refused once the bytes all writers hold past their floors would
// reach into that part, while a charge that leaves the writer within
// its floor needs only room in the parent's max.
//
// It is safe for concurrent use: a budget and its parent share one
// mutex.
type WaitBudget struct {
	mu     *sync.Mutex // the root's; guards used, changes, above, holders of the tree
	max    int64
	floor  int64 // b's bytes that do not count against parent.shared
	shared int64 // limit of above
	parent *WaitBudget

	used    int64 // bytes charged and not returned
	changes int64 // changes charged and not returned
	above   int64 // the children's bytes past their floors
	holders int   // children with bytes charged
}

// WaitStats is what a budget holds (WaitBudget.Stats).
type WaitStats struct {
	// Bytes and Changes are charged and not yet returned.
	Bytes, Changes int64
	// Holders is the number of child budgets (writers) holding bytes.
	Holders int
}

// NewWaitBudget returns a budget of limit bytes (limit < 1: none may wait)
// whose charges also count against parent (nil: none).
func NewWaitBudget(limit int64, parent *WaitBudget) *WaitBudget {
	return NewFloorWaitBudget(limit, 0, parent)
}

// NewFairWaitBudget returns a budget of limit bytes, a parent for
// writers' budgets (NewFloorWaitBudget), of which reserved bytes are
// kept for writers within their floor: the bytes writers hold past
// their floors may take at most limit − reserved (reserved is clamped
// to 0..limit).
func NewFairWaitBudget(limit, reserved int64) *WaitBudget {
	b := NewWaitBudget(limit, nil)
	b.shared = limit - min(max(reserved, 0), max(limit, 0))
	return b
}

// NewFloorWaitBudget returns a budget of limit bytes whose charges also
// count against parent (nil: none), of which the first floor bytes
// count only against parent's limit, not against the part parent keeps
// for writers within their floor (NewFairWaitBudget).
func NewFloorWaitBudget(limit, floor int64, parent *WaitBudget) *WaitBudget {
	b := &WaitBudget{max: limit, shared: limit, floor: max(floor, 0), parent: parent}
	if parent != nil {
		b.mu = parent.mu
	} else {
		b.mu = new(sync.Mutex)
	}
	return b
}

// Used returns the bytes charged to b and not yet returned.
func (b *WaitBudget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Max returns b's limit in bytes.
func (b *WaitBudget) Max() int64 { return b.max }

// Stats returns the bytes and changes charged to b and not yet
// returned, and the number of its children holding any.
func (b *WaitBudget) Stats() WaitStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return WaitStats{Bytes: b.used, Changes: b.changes, Holders: b.holders}
}

// reserve charges n bytes to b and its parents when none of them would
// pass a limit; otherwise it charges nothing and returns an error
// (ErrWaitBudget) naming the limit.
func (b *WaitBudget) reserve(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := b; c != nil; c = c.parent {
		if c.used+n > c.max {
			whose := "the writer's, across its documents"
			if c.parent == nil {
				whose = "all writers'"
			}
			return fmt.Errorf("%w: %d more bytes would wait for their dependencies, %d of %d bytes (%s) already waiting", ErrWaitBudget, n, c.used, c.max, whose)
		}
		if p := c.parent; p != nil {
			if past := c.past(c.used+n) - c.past(c.used); past > 0 && p.above+past > p.shared {
				return fmt.Errorf("%w: %d more bytes would wait for their dependencies past the writer's floor of %d bytes, %d of %d bytes past writers' floors already waiting (the other %d bytes are kept for writers within their floor)", ErrWaitBudget, n, c.floor, p.above, p.shared, p.max-p.shared)
			}
		}
	}
	b.add(n, 0)
	return nil
}

// release returns n bytes and k changes to b and its parents; b may be
// nil. A negative k charges changes (ApplyCharged, for the ones it
// queued).
func (b *WaitBudget) release(n, k int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.add(-n, -k)
}

// add adds n bytes and k changes to b and its parents. Caller holds
// b.mu.
func (b *WaitBudget) add(n, k int64) {
	for c := b; c != nil; c = c.parent {
		before := c.used
		c.used += n
		c.changes += k
		if p := c.parent; p != nil {
			p.above += c.past(c.used) - c.past(before)
			switch {
			case before == 0 && c.used > 0:
				p.holders++
			case before > 0 && c.used == 0:
				p.holders--
			}
		}
	}
}

// past returns the part of used bytes of b past its floor.
func (b *WaitBudget) past(used int64) int64 { return max(used-b.floor, 0) }
