package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/store"
)

// bgCompaction is a compaction of a document run off its lock
// (Handle.compactLater): what the handle knew when it started it.
type bgCompaction struct {
	// covered: the compaction covers every increment whose sequence
	// number is below it; count and bytes are their number and size as
	// the handle counted them, taken off its counters once it is queued.
	covered      uint64
	count, bytes int32
	// heads are the document's heads when it started: what the stored
	// snapshot and those increments load to.
	heads []automerge.ChangeHash
	// last is the write that queued the last increment covered: once it
	// is committed, so are they.
	last *write
	// stale is set, under the handle's lock, when the document was
	// deleted, unloaded, reset to an empty placeholder or compacted in
	// place since (staleCompaction): the result is then discarded.
	stale bool
}

// compactLater starts a compaction of h at a bound crossed by persist,
// whose write of the increment is last, in the background: only the
// sequence number, counters and heads are taken under h.mu, and the
// snapshot is built off it from what the store holds (buildCompaction),
// so neither the edit that crossed the bound nor those after it wait
// for automerge's Save and the checking Load. At most one runs per
// handle: a bound crossed while one runs starts nothing, and a repo
// closing starts nothing either (the increments stay). It reports false
// when h is to be compacted in place (queueCompaction) instead: a
// document whose snapshot is at most compactFloor bytes (≈ 400 changes,
// saved in ≈ 0.5 ms) below the byte bound, for which a background
// compaction, which loads the document again from the store, costs
// more than the edit would wait. Caller holds h.mu with the document
// loaded.
func (h *Handle) compactLater(last *write) bool {
	if int(h.snapBytes) <= compactFloor && int(h.incBytes) <= h.repo.opts.maxIncBytes {
		return false
	}
	r := h.repo
	r.bgMu.Lock()
	defer r.bgMu.Unlock()
	if r.bgClosed || r.bgJobs[h] != nil {
		return true
	}
	c := &bgCompaction{covered: h.nextSeq, count: h.incCount, bytes: h.incBytes, heads: slices.Clone(h.heads), last: last}
	r.bgJobs[h] = c
	r.bgWG.Add(1)
	go func() {
		defer r.bgWG.Done()
		h.compactInBackground(c)
	}()
	return true
}

// staleCompaction marks the background compaction of h, if one runs,
// stale: the store or the handle's counters changed other than by
// increments added after it (a delete, an unload, a reset, a compaction
// in place). Caller holds h.mu.
func (h *Handle) staleCompaction() {
	r := h.repo
	r.bgMu.Lock()
	if c := r.bgJobs[h]; c != nil {
		c.stale = true
	}
	r.bgMu.Unlock()
}

// compactInBackground runs c: it builds the snapshot without h.mu, then
// queues, under it, a write storing the snapshot and deleting the
// increments it covers — those alone, never one written meanwhile —
// behind them in the group commit. The result is discarded when c went
// stale, a write of the document failed (h.broken: only a compaction in
// place repairs that) or the repo is closing. A failure is logged at
// error level and loses nothing: the increments stay, and the next
// bound crossing retries.
func (h *Handle) compactInBackground(c *bgCompaction) {
	r := h.repo
	// The build runs on a thread of its own at the lowest CPU priority
	// (idleThread), which ends with it: on a busy core the edits' threads
	// go first. It takes no lock, so nothing waits on it at that priority.
	type built struct {
		snap []byte
		keys [][]byte
		err  error
	}
	done := make(chan built, 1)
	go func() {
		idleThread()
		var b built
		b.snap, b.keys, b.err = h.buildCompaction(r.bgCtx, c)
		// The build freed whole documents: a keeper running (the
		// relay's) gives that memory back now, not at its next tick.
		cmem.Wake()
		done <- b
	}()
	b := <-done
	snap, keys, err := b.snap, b.keys, b.err
	if r.bgHook != nil {
		r.bgHook(r.bgCtx, true)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	r.bgMu.Lock()
	delete(r.bgJobs, h)
	r.bgMu.Unlock()
	if c.stale || h.broken.Load() || r.bgCtx.Err() != nil {
		return
	}
	if err != nil {
		r.opts.logger.Error("repo: compact document in the background", "doc", h.id.String(), "err", err)
		return
	}
	id := h.id
	w := &write{h: h, size: len(snap), background: true, fn: func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return tx.Set(snapKey(id), snap)
	}}
	h.incCount -= c.count
	h.incBytes -= c.bytes
	h.snapBytes = int32(len(snap))
	h.queue(w)
}

// buildCompaction waits until the increments c covers are committed,
// reads them and the snapshot from the store as a load does (Repo.read),
// checks that they load to c's heads and returns the snapshot that
// replaces them (snapshotClosing: Save, the document freed, then a
// checking Load) with their keys. It builds while it holds the repo's
// bgSlots, so at most one whole document is in C memory for it at a
// time, and every automerge document it makes is freed before it
// returns.
func (h *Handle) buildCompaction(ctx context.Context, c *bgCompaction) (snap []byte, keys [][]byte, err error) {
	r := h.repo
	if err := c.last.wait(ctx); err != nil {
		return nil, nil, fmt.Errorf("wait for the increments: %w", err)
	}
	if r.bgHook != nil {
		r.bgHook(ctx, false)
	}
	select {
	case r.bgSlots <- struct{}{}:
		defer func() { <-r.bgSlots }()
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	id := h.id
	st, err := r.readStored(ctx, id, c.covered)
	if err != nil {
		return nil, nil, fmt.Errorf("read the document: %w", err)
	}
	r.gc.add(len(st.snap) + st.incBytes)
	d, err := st.load()
	if err != nil {
		return nil, nil, err
	}
	for _, seq := range st.seqs {
		keys = append(keys, incKey(id, seq))
	}
	if got := d.Heads(); !slices.Equal(got, c.heads) {
		d.Close()
		return nil, nil, errors.New("the stored document's heads are not the handle's")
	}
	snap, asChanges, err := snapshotClosing(d, st.load)
	if err != nil {
		return nil, nil, err
	}
	if asChanges {
		r.opts.logger.Error("repo: saved document does not load back; stored as its changes", "doc", id.String())
	}
	r.gc.add(len(snap))
	return snap, keys, nil
}

// stopCompactions cancels the background compactions, waits until
// every one has returned and starts no more: after it no compaction
// touches the store or queues a write.
func (r *Repo) stopCompactions() {
	r.bgMu.Lock()
	r.bgClosed = true
	r.bgMu.Unlock()
	r.bgCancel()
	r.bgWG.Wait()
}
