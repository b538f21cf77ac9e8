package repo

import (
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/msync"
)

// WaitLimits bound, across documents, the bytes of changes automerge
// keeps queued for missing dependencies (msync.WaitBudget): the changes
// of writers no check applies to (the owner, Incoming.Guard peers) that
// automerge takes. msync.MaxQueuedBytes bounds one document; without
// these one writer could keep that much waiting in every loaded
// document of theirs.
type WaitLimits struct {
	// WriterBytes bounds one authenticated writer's (Incoming.Writer).
	WriterBytes int64
	// TotalBytes bounds all writers', and those of messages without a
	// writer.
	TotalBytes int64
	// FloorBytes and ReservedBytes keep a few heavy writers from
	// filling TotalBytes for everyone: the bytes writers hold past
	// their first FloorBytes may take at most TotalBytes −
	// ReservedBytes, so a writer within its floor is still admitted
	// while heavy writers hold all they may; the heavy writers are the
	// ones refused.
	FloorBytes, ReservedBytes int64
}

// DefaultWaitLimits returns 16 MiB per writer (four documents at
// msync.MaxQueuedBytes) and 128 MiB in all, of which writers' bytes past
// their first 1 MiB may take 96 MiB: 32 MiB are kept for writers within
// that floor.
func DefaultWaitLimits() WaitLimits {
	return WaitLimits{WriterBytes: 16 << 20, TotalBytes: 128 << 20, FloorBytes: 1 << 20, ReservedBytes: 32 << 20}
}

// WithWaitLimits returns o with the given bounds on the bytes of changes
// waiting for their dependencies across documents; fields < 1 keep
// their default (DefaultWaitLimits).
func (o Options) WithWaitLimits(l WaitLimits) Options {
	d := DefaultWaitLimits()
	if l.WriterBytes < 1 {
		l.WriterBytes = d.WriterBytes
	}
	if l.TotalBytes < 1 {
		l.TotalBytes = d.TotalBytes
	}
	if l.FloorBytes < 1 {
		l.FloorBytes = d.FloorBytes
	}
	if l.ReservedBytes < 1 {
		l.ReservedBytes = d.ReservedBytes
	}
	o.wait = l
	return o
}

// waitBook holds the budgets of waiting changes: one per writer that
// ever had changes waiting (kept, empty, afterwards: a change charged
// to a budget returns its bytes to that budget, so a writer's budget is
// never replaced) and the total, their parent.
type waitBook struct {
	total   *msync.WaitBudget
	limit   int64
	floor   int64
	mu      sync.Mutex
	writers map[model.UserID]*msync.WaitBudget
}

func newWaitBook(l WaitLimits) *waitBook {
	return &waitBook{total: msync.NewFairWaitBudget(l.TotalBytes, l.ReservedBytes), limit: l.WriterBytes, floor: l.FloorBytes}
}

// budget returns writer's budget, the total for an empty writer.
func (b *waitBook) budget(writer model.UserID) *msync.WaitBudget {
	if writer == "" {
		return b.total
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	w, ok := b.writers[writer]
	if !ok {
		if b.writers == nil {
			b.writers = map[model.UserID]*msync.WaitBudget{}
		}
		w = msync.NewFloorWaitBudget(b.limit, b.floor, b.total)
		b.writers[writer] = w
	}
	return w
}

// Waiting returns the bytes of changes waiting for their dependencies
// in the loaded documents, charged to writer (all writers' when empty).
func (r *Repo) Waiting(writer model.UserID) int64 {
	if writer == "" {
		return r.wait.total.Used()
	}
	r.wait.mu.Lock()
	w := r.wait.writers[writer]
	r.wait.mu.Unlock()
	if w == nil {
		return 0
	}
	return w.Used()
}

// WaitStats returns the changes and bytes waiting for their
// dependencies in the loaded documents, and the number of writers
// holding any.
func (r *Repo) WaitStats() msync.WaitStats { return r.wait.total.Stats() }

// dropGraph forgets the change graph of the handle, returning the bytes
// of its queued changes to their budgets (msync.Graph.Release): the
// document is unloaded, reset or replaced. Caller holds h.mu or owns h.
func (h *Handle) dropGraph() {
	if h.changes != nil {
		h.changes.Release()
	}
	h.changes = nil
}

// waitBudget returns the function msync.ApplyCharged calls for the
// budget of writer's waiting changes.
func (h *Handle) waitBudget(writer model.UserID) func() *msync.WaitBudget {
	return func() *msync.WaitBudget { return h.repo.wait.budget(writer) }
}
