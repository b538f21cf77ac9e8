package repo

import (
	"bytes"
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
	// bundle says the increments are merged into bundles (buildBundles)
	// instead of a snapshot: the document was behind its change graph
	// with a history past the repo's bundleFrom changes.
	bundle bool
}

// compacted is what a background compaction stores, in one Update: set
// (key to value, in order) and del deleted, and how many of the bundles
// it sets stay counted (not sealed, Repo.sealed) and their bytes.
type compacted struct {
	set                  []keyValue
	del                  [][]byte
	keptCount, keptBytes int32
	snapBytes            int32 // the snapshot's size, -1 when it stores none
}

// keyValue is one key set by a compacted.
type keyValue struct{ k, v []byte }

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
	c := &bgCompaction{covered: h.nextSeq, count: h.incCount, bytes: h.incBytes, heads: slices.Clone(h.heads), last: last,
		bundle: h.behind > 0 && h.changes != nil && h.changes.Len() > r.opts.bundleFrom}
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

// compactInBackground runs c: it builds the snapshot, or the bundles,
// without h.mu, then queues, under it, a write storing them and deleting
// the increments they cover — those alone, never one written meanwhile —
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
		out compacted
		err error
	}
	done := make(chan built, 1)
	go func() {
		idleThread()
		var b built
		release, err := h.bgStart(r.bgCtx, c)
		switch {
		case err != nil:
			b.err = err
		case c.bundle:
			b.out, b.err = h.buildBundles(r.bgCtx, c)
			release()
		default:
			b.out, b.err = h.buildCompaction(r.bgCtx, c)
			release()
			// The build freed whole documents: a keeper running (the
			// relay's) gives that memory back now, not at its next tick.
			cmem.Wake()
		}
		done <- b
	}()
	b := <-done
	out, err := b.out, b.err
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
		r.opts.logger.Error("repo: compact document in the background", "doc", h.id.String(), "bundle", c.bundle, "err", err)
		return
	}
	h.incCount += out.keptCount - c.count
	h.incBytes += out.keptBytes - c.bytes
	if len(out.set) == 0 && len(out.del) == 0 {
		return // every increment it read was a run of its own
	}
	size := 0
	for _, kv := range out.set {
		size += len(kv.v)
	}
	w := &write{h: h, size: size, background: true, fn: func(tx store.Txn) error {
		for _, k := range out.del {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for _, kv := range out.set {
			if err := tx.Set(kv.k, kv.v); err != nil {
				return err
			}
		}
		return nil
	}}
	if out.snapBytes >= 0 {
		h.snapBytes = out.snapBytes
		r.snapshots.Add(1)
	} else {
		r.bundles.Add(1)
	}
	h.queue(w)
}

// Compactions returns how many compactions the repo queued for the store
// since it opened: snapshots (in place or built in the background) and
// bundle jobs that merged increments (buildBundles). A compaction that
// failed before it was queued is not counted.
func (r *Repo) Compactions() (snapshots, bundles uint64) {
	return r.snapshots.Load(), r.bundles.Load()
}

// buildCompaction reads the increments c covers and the snapshot from
// the store as a load does (Repo.read), checks that they load to c's
// heads and returns the snapshot that replaces them (snapshotClosing:
// Save, the document freed, then a checking Load) with their keys to
// delete. Its caller holds the repo's bgSlots (bgStart), so at most one
// whole document is in C memory for it at a time, and every automerge
// document it makes is freed before it returns.
func (h *Handle) buildCompaction(ctx context.Context, c *bgCompaction) (compacted, error) {
	r, id := h.repo, h.id
	st, err := r.readStored(ctx, id, c.covered)
	if err != nil {
		return compacted{}, fmt.Errorf("read the document: %w", err)
	}
	size := len(st.snap)
	for _, inc := range st.incs {
		size += len(inc)
	}
	r.gc.add(size)
	d, err := st.load()
	if err != nil {
		return compacted{}, err
	}
	out := compacted{}
	for _, seq := range st.seqs {
		out.del = append(out.del, incKey(id, seq))
	}
	if got := d.Heads(); !slices.Equal(got, c.heads) {
		d.Close()
		return compacted{}, errors.New("the stored document's heads are not the handle's")
	}
	snap, asChanges, err := snapshotClosing(d, st.load)
	if err != nil {
		return compacted{}, err
	}
	if asChanges {
		r.opts.logger.Error("repo: saved document does not load back; stored as its changes", "doc", id.String())
	}
	r.gc.add(len(snap))
	out.set = []keyValue{{snapKey(id), frameRecord(snapKey(id), snap)}}
	out.snapBytes = int32(len(snap))
	return out, nil
}

// bgStart waits until the increments c covers are committed and for the
// repo's bgSlots; release gives the slot back.
func (h *Handle) bgStart(ctx context.Context, c *bgCompaction) (release func(), err error) {
	r := h.repo
	if err := c.last.wait(ctx); err != nil {
		return nil, fmt.Errorf("wait for the increments: %w", err)
	}
	if r.bgHook != nil {
		r.bgHook(ctx, false)
	}
	select {
	case r.bgSlots <- struct{}{}:
		return func() { <-r.bgSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// buildBundles, its caller holding the repo's bgSlots (bgStart), reads
// the unsealed increments c covers (not the snapshot, nor the sealed
// increments before them) and merges each run of consecutive unsealed ones (Repo.sealed; a
// sealed increment ends a run, so the changes keep their order) into
// bundles of about sealBytes (bundleRuns): the increments' bytes
// concatenated, which LoadIncremental and msync.Graph.AddChunks read as
// the increments themselves, each stored under its first increment's
// key, the others' keys deleted. No automerge document is made: its
// memory is the increments', whatever the document's history. A single
// increment is left as it is; the end of a run below sealBytes stays
// counted, merged again by the next job.
func (h *Handle) buildBundles(ctx context.Context, c *bgCompaction) (compacted, error) {
	r, id := h.repo, h.id
	// Backwards from c.covered until the c.count unsealed increments it
	// covers are read: the sealed ones before them (earlier bundles,
	// which make most of a big document's history) are not read at all.
	var seqs []uint64
	var incs [][]byte
	ip, unsealed := incPrefix(id), int32(0)
	err := r.st.Iterate(ctx, ip, true, func(k, v []byte) error {
		seq, err := store.Uint64(k[len(ip):])
		if err != nil {
			return fmt.Errorf("%w: increment key %q: %v", ErrCorrupt, k, err)
		}
		if seq >= c.covered {
			return nil
		}
		if unsealed == c.count {
			return store.ErrStop
		}
		chunks, err := openRecord(k, v)
		if err != nil {
			return fmt.Errorf("%w: increment seq %d: %v", ErrCorrupt, seq, err)
		}
		seqs = append(seqs, seq)
		incs = append(incs, bytes.Clone(chunks))
		if !r.sealed(len(chunks)) {
			unsealed++
		}
		return nil
	})
	if err != nil {
		return compacted{}, fmt.Errorf("read the increments: %w", err)
	}
	slices.Reverse(seqs)
	slices.Reverse(incs)
	return bundleRuns(seqs, incs, r.sealBytes(), func(seq uint64) []byte { return incKey(id, seq) }), nil
}

// bundleRuns is buildBundles' merge of the increments incs (in sequence
// order, with their sequence numbers seqs) into bundles, an increment of
// at least sealBytes being sealed (Repo.sealed): a bundle is cut once it
// reaches sealBytes, so it is sealed and holds less than sealBytes plus
// one unsealed increment, < 2 × sealBytes; the rest of a run is a bundle
// below it, which stays counted. key is an increment's store key. incs
// are change chunks (openRecord); the bundles it sets are framed records
// of their concatenation under their keys (frameRecord). incs is not
// modified.
func bundleRuns(seqs []uint64, incs [][]byte, sealBytes int, key func(seq uint64) []byte) compacted {
	out := compacted{snapBytes: -1}
	var run []int
	n := 0
	flush := func() {
		defer func() { run, n = run[:0], 0 }()
		if len(run) == 0 {
			return
		}
		if n < sealBytes {
			out.keptCount++
			out.keptBytes += int32(n)
		}
		if len(run) == 1 {
			return
		}
		b := make([]byte, 0, n)
		for _, i := range run {
			b = append(b, incs[i]...)
		}
		out.set = append(out.set, keyValue{key(seqs[run[0]]), frameRecord(key(seqs[run[0]]), b)})
		for _, i := range run[1:] {
			out.del = append(out.del, key(seqs[i]))
		}
	}
	for i, inc := range incs {
		if len(inc) >= sealBytes {
			flush()
			continue
		}
		run = append(run, i)
		if n += len(inc); n >= sealBytes {
			flush()
		}
	}
	flush()
	return out
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
