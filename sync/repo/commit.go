package repo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// ErrWriteFailed is returned for a write queued behind an earlier write
// of the same document that failed: it is not committed (its increment
// would depend on the lost one); the document's next persist writes a
// full snapshot instead.
var ErrWriteFailed = errors.New("repo: an earlier write of this document failed")

// write is one document's durable write queued for the group commit: an
// increment (and the extra writes of its persist, such as a sync state)
// or a compaction. fn is pure (no side effects besides its Txn calls), so
// it may run more than once (conflict retries, a split batch).
type write struct {
	h       *Handle
	fn      func(tx store.Txn) error
	size    int  // bytes written, for the batch bound
	compact bool // a full snapshot: repairs a failed earlier write
	// background marks a compaction built in the background
	// (compact.go): it covers the increments up to a sequence number
	// only, so it repairs nothing, and its failure, like any
	// compaction's, loses nothing.
	background bool
	// creation is the first storing of a document together with the
	// records of its creation (Incoming.Create), which may refuse it: it
	// is committed in an Update of its own, so its refusal fails no other
	// write, and its failure does not mark the document broken (the
	// caller, still holding the document's lock, resets it to an empty
	// placeholder).
	creation bool
	// stateOnly marks a write of sync states alone (states written
	// behind, or a message that added no change): the document's content
	// is stored already, so it does not keep the document loaded (see
	// unloadable). prior is then the latest write of the content queued
	// before it and not finished at the time, which does.
	stateOnly bool
	prior     *write
	// event, when set, is published once the write is durable (by the
	// committer, so a document's events keep their order).
	event *Event
	// res, when set, is the Quota reservation of the message whose
	// changes the write stores: the batch charges its added bytes
	// (chargeBatch) and it is settled with the write's outcome once, as
	// the write ends.
	res    *reservation
	err    error
	done   chan struct{} // closed once err is set
	queued time.Time     // when enqueue handed it to the committer (CommitStats)
}

// wait blocks until w is committed or failed, or ctx ends (the write may
// still commit afterwards; nothing was acknowledged). A nil w is done.
func (w *write) wait(ctx context.Context) error {
	if w == nil {
		return nil
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// content returns the latest write of the document's content queued up
// to w (w itself unless it writes sync states only), or nil when every
// such write had finished when w was queued. A nil w has none.
func (w *write) content() *write {
	if w == nil || !w.stateOnly {
		return w
	}
	return w.prior
}

// finished reports whether w is committed or failed.
func (w *write) finished() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// enqueue hands w to the committer. It fails w at once when the repo is
// closing.
func (r *Repo) enqueue(w *write) {
	w.done = make(chan struct{})
	w.queued = time.Now()
	r.qmu.RLock()
	defer r.qmu.RUnlock()
	if r.qclosed {
		w.err = ErrClosed
		w.res.settle(w.err)
		close(w.done)
		return
	}
	r.queue <- w
}

// committer is the repo's group commit: it takes every write queued and
// commits them in one store Update (one Badger commit, one fsync) — up to
// the batch bounds of WithGroupCommit — then answers each. Writes
// arriving while a batch commits queue up for the next one, so batches
// grow with the load. Under load — the previous batch held more than one
// write, and this batch's first write was queued less than
// WithCommitLinger's d after it ended — the batch waits until d after
// that write was queued for more to join (the bounds end the wait
// early), so one fsync covers more writes; a lone writer (each write
// waiting for the one before) and a write arriving after the committer
// was idle for d or longer commit at once. Writes of
// one document keep their queue order, within and across batches. A
// creation (see write.creation) is committed alone. When a batch fails
// every write in it fails and their documents are marked broken: their
// later queued increments fail with ErrWriteFailed until a compaction
// (full snapshot) of the document commits. It runs until the queue is
// closed (Close), committing what was queued before.
func (r *Repo) committer() {
	defer close(r.committerDone)
	var next *write
	var ended time.Time // when the last batch's Update returned
	var prev int        // how many writes it held
	for {
		first := next
		next = nil
		if first == nil {
			var ok bool
			if first, ok = <-r.queue; !ok {
				return
			}
		}
		batch := []*write{first}
		size := first.size
		bounded := func() bool { return len(batch) >= r.opts.batchWrites || size >= r.opts.batchBytes }
		// add takes w into the batch, or keeps it for the next one; it
		// reports whether the batch is complete.
		add := func(w *write, ok bool) bool {
			if !ok {
				return true
			}
			if w.creation || size+w.size > r.opts.batchBytes {
				next = w
				return true
			}
			batch = append(batch, w)
			size += w.size
			return bounded()
		}
		var linger *time.Timer
		if d := r.opts.commitLinger; d > 0 && prev > 1 && !first.creation && first.queued.Sub(ended) < d {
			linger = time.NewTimer(time.Until(first.queued.Add(d)))
		}
		full := first.creation || bounded()
	gather:
		for !full {
			select {
			case w, ok := <-r.queue:
				full = add(w, ok)
			default:
				if linger == nil {
					break gather
				}
				select {
				case w, ok := <-r.queue:
					full = add(w, ok)
				case <-linger.C:
					break gather
				}
			}
		}
		if linger != nil {
			linger.Stop()
		}
		r.commitBatch(batch)
		ended, prev = time.Now(), len(batch)
	}
}

// commitBatch commits batch in one Update and answers every write.
func (r *Repo) commitBatch(batch []*write) {
	live := batch[:0:0]
	for _, w := range batch {
		if w.h.broken.Load() && !w.compact {
			r.finish(w, fmt.Errorf("%w: %s", ErrWriteFailed, w.h.id))
			continue
		}
		live = append(live, w)
	}
	if len(live) == 0 {
		return
	}
	r.batches.Add(1)
	start := time.Now()
	err := r.st.Update(context.Background(), func(tx store.Txn) error {
		for _, w := range live {
			if err := w.fn(tx); err != nil {
				return err
			}
		}
		return r.chargeBatch(tx, live)
	})
	r.commitBusy.Add(int64(time.Since(start)))
	if errors.Is(err, store.ErrTxnTooBig) && len(live) > 1 {
		// Too big for one transaction: commit the writes one by one.
		for _, w := range live {
			r.commitBatch([]*write{w})
		}
		return
	}
	var wait time.Duration
	for _, w := range live {
		wait += start.Sub(w.queued)
	}
	r.commitWait.Add(int64(wait))
	r.commitWrites.Add(uint64(len(live)))
	for _, w := range live {
		switch {
		case err != nil && !w.compact && !w.creation && !w.background:
			// A failed compaction loses nothing: the increments stay.
			w.h.broken.Store(true)
		case err == nil && w.compact:
			w.h.broken.Store(false)
		}
		if err == nil && w.event != nil {
			r.subs.publish(*w.event)
		}
		r.finish(w, err)
	}
	r.roomChanged()
}

// chargeBatch counts, in tx, the change bytes the batch's writes add
// for each writer with a Quota reservation: one Quota.Charge per writer
// per transaction, in the order writers first appear. The committer
// runs one batch at a time and settles its writes before the next, which
// is what Quota.Charge relies on.
func (r *Repo) chargeBatch(tx store.Txn, batch []*write) error {
	var users []model.UserID
	var added map[model.UserID]int
	for _, w := range batch {
		if w.res == nil || w.res.added <= 0 {
			continue
		}
		if added == nil {
			added = map[model.UserID]int{}
		}
		if _, ok := added[w.res.user]; !ok {
			users = append(users, w.res.user)
		}
		added[w.res.user] += w.res.added
	}
	for _, u := range users {
		if err := r.opts.quota.Charge(tx, u, added[u]); err != nil {
			return err
		}
	}
	return nil
}

func (r *Repo) finish(w *write, err error) {
	if err != nil {
		err = fmt.Errorf("repo: persist %s: %w", w.h.id, err)
	}
	w.err = err
	w.res.settle(err)
	// A handle keeps its last write until the next one, which for an
	// unloaded document may be never: the write's bytes go with fn.
	w.fn, w.res = nil, nil
	close(w.done)
}

// CommitStats are the totals of a repo's group commit since Open, for
// telling where a write's time goes: queued behind the Update in progress
// (Wait) or in its own (Busy, which includes the store's fsync).
type CommitStats struct {
	// Writes is how many queued writes a store Update committed or
	// failed (those failed at once with ErrWriteFailed are not counted).
	Writes uint64
	// Wait is the time those writes spent queued before their Update
	// began, summed over the writes: Wait / Writes is the mean wait.
	Wait time.Duration
	// Busy is the time the committer spent in store Updates. Its share
	// of an interval's wall time is how close the group commit is to its
	// ceiling: near 1, writes wait for the Update in progress.
	Busy time.Duration
}

// CommitStats returns the group commit's totals since Open.
func (r *Repo) CommitStats() CommitStats {
	return CommitStats{
		Writes: r.commitWrites.Load(),
		Wait:   time.Duration(r.commitWait.Load()),
		Busy:   time.Duration(r.commitBusy.Load()),
	}
}

// stopCommitter closes the queue and waits for the committer to commit
// what was queued.
func (r *Repo) stopCommitter() {
	r.qmu.Lock()
	if !r.qclosed {
		r.qclosed = true
		close(r.queue)
	}
	r.qmu.Unlock()
	<-r.committerDone
}
