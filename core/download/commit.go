package download

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// maxCommitBatch bounds the blobs one group commit records, and
// maxPendingCommits the blobs transferred but not yet committed (each
// holds an open temp file — mind macOS's default limit of 256 open files
// — and unsynced page cache): transfers wait beyond it. commitWindow is how long the committer gathers a batch
// while more blobs are on their way.
const (
	maxCommitBatch    = 128
	maxPendingCommits = 64
	commitWindow      = 3 * time.Millisecond
)

// commitReq asks the committer to fsync and install one verified temp
// file and record its done bit. blobs and bytes are the job's totals from
// its manifest.
type commitReq struct {
	tt    trackTier
	idx   int
	ref   model.BlobRef
	tmp   *tempBlob // open, unsynced; owned by the committer
	blobs int
	bytes int64
	reply chan commitRes // buffered (1)
}

// commitRes is the committer's answer: whether the done bit is new
// (false when it was already set) and the job's progress after the
// commit (recorded complete in the same transaction when it is), or an
// error (errJobGone when the job was removed meanwhile).
type commitRes struct {
	fresh     bool
	job       jobRec // progress as of this blob's done bit
	completed bool   // this blob's done bit completed the job
	err       error
}

// committer is the group commit of downloaded blobs: it takes every
// request waiting, fsyncs their temp files (concurrently), renames them
// into place, fsyncs each directory touched once, and records all their
// references and done bits in one store transaction (one fsync), all
// under the blobs' hash locks. Durability order per blob is unchanged —
// file fsynced, renamed, directory fsynced, then the done bit — but the
// fsyncs run outside the transfer slots, and a batch of n blobs costs
// one journal commit for the files, one directory fsync per distinct
// directory and one store commit instead of n of each. There is no timer: the committer takes what is queued and
// commits at once, and the transfers finishing while it commits queue up
// for the next batch, so batches grow with the load and a lone blob (the
// last of a download) waits for no window. It runs until ctx ends, then
// fails the requests still queued.
func (m *Manager) committer(ctx context.Context) {
	for {
		var batch []commitReq
		select {
		case r := <-m.commits:
			batch = append(batch, r)
		case <-ctx.Done():
			for {
				select {
				case r := <-m.commits:
					r.tmp.discard()
					r.reply <- commitRes{err: ctx.Err()}
				default:
					return
				}
			}
		}
		window := time.NewTimer(commitWindow)
	more:
		for len(batch) < maxCommitBatch {
			if m.coming.Load() == 0 {
				select { // nothing on its way: take what is queued, no wait
				case r := <-m.commits:
					batch = append(batch, r)
					continue
				default:
					break more
				}
			}
			select {
			case r := <-m.commits:
				batch = append(batch, r)
			case <-window.C:
				break more
			case <-ctx.Done():
				break more
			}
		}
		window.Stop()
		m.commitBatch(context.WithoutCancel(ctx), batch)
	}
}

// commitBatch carries out one group commit (commitFiles), reports the
// progress it made, then answers every request. The events leave from
// the committer alone, in commit order, after the hash locks are
// released: each track's progress only moves forward, whatever order
// the transfers' goroutines wake up in.
func (m *Manager) commitBatch(ctx context.Context, batch []commitReq) {
	res, events := m.commitFiles(ctx, batch)
	for _, e := range events {
		m.emit(e)
	}
	for i, r := range batch {
		r.reply <- res[i]
	}
}

// commitFiles carries out one group commit under the batch's hash locks
// and returns each request's result and the events of the blobs it
// recorded (a progress event per blob new to a live job, and the job's
// completion), in commit order.
func (m *Manager) commitFiles(ctx context.Context, batch []commitReq) ([]commitRes, []Event) {
	// Hash locks, each stripe once, in order (no deadlock with the
	// single-hash lockers).
	var stripes []int
	for _, r := range batch {
		stripes = append(stripes, int(r.ref.SHA256[0])%len(m.files.locks))
	}
	slices.Sort(stripes)
	stripes = slices.Compact(stripes)
	for _, s := range stripes {
		m.files.locks[s].Lock()
	}
	defer func() {
		for _, s := range stripes {
			m.files.locks[s].Unlock()
		}
	}()
	res := make([]commitRes, len(batch))
	var events []Event
	// The batch's files are fsynced concurrently (a journaling filesystem
	// folds concurrent fsyncs into few journal commits), each before its
	// rename.
	synced := make([]error, len(batch))
	var wg sync.WaitGroup
	for i, r := range batch {
		wg.Go(func() { synced[i] = r.tmp.finish() })
	}
	wg.Wait()
	var ok []int
	for i, r := range batch {
		if synced[i] != nil {
			r.tmp.discard()
			res[i].err = synced[i]
			continue
		}
		if err := m.files.install(r.tmp, r.ref.SHA256); err != nil {
			r.tmp.discard()
			res[i].err = err
			continue
		}
		ok = append(ok, i)
	}
	// One fsync of the blob directory makes every rename durable.
	if len(ok) > 0 {
		if err := m.files.sync(); err != nil {
			ok = m.abandon(ctx, batch, ok, res, err)
		}
	}
	var progress map[trackTier]jobRec
	if len(ok) > 0 {
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			progress = map[trackTier]jobRec{}
			for _, i := range ok {
				r := batch[i]
				res[i] = commitRes{}
				if _, seen := progress[r.tt]; !seen {
					j, err := progressTx(tx, r.tt)
					if errors.Is(err, store.ErrNotFound) {
						res[i].err = errJobGone
						continue
					} else if err != nil {
						return err
					}
					j.Blobs, j.Bytes = r.blobs, r.bytes
					progress[r.tt] = j
				}
				if _, err := tx.Get(doneKey(r.tt, r.idx)); err == nil {
					res[i].job = progress[r.tt]
					continue // already done (a concurrent pass)
				}
				n := uint32(0)
				switch rb, err := tx.Get(refKey(r.ref.SHA256)); {
				case err == nil && len(rb) == 4:
					n = binary.BigEndian.Uint32(rb)
				case err == nil, errors.Is(err, store.ErrNotFound):
				default:
					return err
				}
				if err := tx.Set(refKey(r.ref.SHA256), binary.BigEndian.AppendUint32(nil, n+1)); err != nil {
					return err
				}
				res[i].fresh = true
				if err := tx.Set(doneKey(r.tt, r.idx), binary.BigEndian.AppendUint64(append([]byte(nil), r.ref.SHA256[:]...), uint64(r.ref.Size))); err != nil {
					return err
				}
				j := progress[r.tt]
				j.Done++
				j.DoneBytes += r.ref.Size
				progress[r.tt] = j
				res[i].job, res[i].completed = j, j.Done == j.Blobs
			}
			// A job this batch completes is recorded complete in the same
			// transaction (no commit of its own).
			for tt, j := range progress {
				if !j.complete() {
					continue
				}
				if err := setJobProgressTx(tx, tt, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			m.abandon(ctx, batch, ok, res, err)
		} else {
			var gone []int
			for _, i := range ok {
				if res[i].err != nil {
					gone = append(gone, i)
				}
			}
			m.abandon(ctx, batch, gone, res, errJobGone)
			m.mu.Lock()
			for tt, p := range progress {
				if j, live := m.jobs[tt]; live {
					j.Blobs, j.Bytes, j.Done, j.DoneBytes = p.Blobs, p.Bytes, p.Done, p.DoneBytes
				}
			}
			for _, i := range ok {
				r, j := batch[i], res[i].job
				if _, live := m.jobs[r.tt]; !live || res[i].err != nil || !res[i].fresh {
					continue
				}
				e := Event{Kind: EventProgress, Track: r.tt.track, Tier: r.tt.tier, BlobsDone: j.Done, Blobs: j.Blobs, BytesDone: j.DoneBytes, Bytes: j.Bytes}
				events = append(events, e)
				if res[i].completed {
					e.Kind = EventTrackDone
					events = append(events, e)
				}
			}
			m.mu.Unlock()
		}
	}
	return res, events
}

// abandon marks the requests idx failed with err and removes their
// installed files unless a committed reference holds them. Caller holds
// the hash locks. It returns nil (no request left to commit).
func (m *Manager) abandon(ctx context.Context, batch []commitReq, idx []int, res []commitRes, err error) []int {
	for _, i := range idx {
		res[i] = commitRes{err: err}
		h := batch[i].ref.SHA256
		if _, gerr := m.d.Store.Get(ctx, refKey(h)); errors.Is(gerr, store.ErrNotFound) {
			m.files.remove(h)
		}
	}
	return nil
}

// progressTx reads a job's record with its progress counted from its
// done bits (store.ErrNotFound when the job is gone).
func progressTx(tx store.Txn, tt trackTier) (jobRec, error) {
	var j jobRec
	b, err := tx.Get(jobKey(tt))
	if err != nil {
		return j, err
	}
	if err := strictDec.Unmarshal(b, &j); err != nil {
		return j, err
	}
	j.Done, j.DoneBytes = 0, 0
	err = tx.Iterate(donePrefix(tt), false, func(_, v []byte) error {
		if len(v) == 40 {
			j.Done++
			j.DoneBytes += int64(binary.BigEndian.Uint64(v[32:]))
		}
		return nil
	})
	return j, err
}

// setJobProgressTx rewrites a job's totals and progress, keeping its
// reference count as stored.
func setJobProgressTx(tx store.Txn, tt trackTier, p jobRec) error {
	b, err := tx.Get(jobKey(tt))
	if err != nil {
		return err
	}
	var j jobRec
	if err := strictDec.Unmarshal(b, &j); err != nil {
		return err
	}
	j.Blobs, j.Bytes, j.Done, j.DoneBytes = p.Blobs, p.Bytes, p.Done, p.DoneBytes
	v, err := detEnc.Marshal(&j)
	if err != nil {
		return err
	}
	return tx.Set(jobKey(tt), v)
}
