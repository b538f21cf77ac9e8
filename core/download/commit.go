package download

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// maxCommitBatch bounds the blobs one group commit records, and
// commitWindow how long the committer gathers requests before it
// commits.
const (
	maxCommitBatch = 128
	commitWindow   = 2 * time.Millisecond
)

// commitReq asks the committer to install one verified, fsynced temp
// file and record its done bit.
type commitReq struct {
	tt    trackTier
	idx   int
	ref   model.BlobRef
	tmp   string
	reply chan commitRes // buffered (1)
}

// commitRes is the committer's answer: whether the done bit is new
// (false when it was already set), or an error (errJobGone when the job
// was removed meanwhile).
type commitRes struct {
	fresh bool
	err   error
}

// committer is the group commit of downloaded blobs: it takes every
// request waiting, renames their temp files into place, fsyncs each
// directory touched once, and records all their references and done bits
// in one store transaction (one fsync), all under the blobs' hash locks.
// Durability order per blob is unchanged — file fsynced, renamed,
// directory fsynced, then the done bit — but a batch of n blobs costs one
// directory fsync per distinct directory and one commit instead of n of
// each. It runs until ctx ends, then fails the requests still queued.
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
					os.Remove(r.tmp)
					r.reply <- commitRes{err: ctx.Err()}
				default:
					return
				}
			}
		}
		// Gather what arrives within commitWindow: the transfers are not
		// waiting (their slots are free), and fewer, larger commits cost
		// fewer journal flushes.
		window := time.NewTimer(commitWindow)
	more:
		for len(batch) < maxCommitBatch {
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

// commitBatch carries out one group commit and answers every request.
func (m *Manager) commitBatch(ctx context.Context, batch []commitReq) {
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
	dirs := map[string]bool{}
	var ok []int
	for i, r := range batch {
		if err := m.files.rename(r.tmp, r.ref.SHA256); err != nil {
			os.Remove(r.tmp)
			res[i].err = err
			continue
		}
		dirs[filepath.Dir(m.files.path(r.ref.SHA256))] = true
		ok = append(ok, i)
	}
	// The directories are fsynced concurrently: the filesystem folds
	// concurrent syncs into one journal commit where it can.
	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		syncErr error
	)
	for d := range dirs {
		wg.Go(func() {
			if err := syncDir(d); err != nil {
				errMu.Lock()
				syncErr = err
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	if syncErr != nil {
		ok = m.abandon(ctx, batch, ok, res, syncErr)
	}
	if len(ok) > 0 {
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			for _, i := range ok {
				r := batch[i]
				res[i] = commitRes{}
				if _, err := tx.Get(jobKey(r.tt)); errors.Is(err, store.ErrNotFound) {
					res[i].err = errJobGone
					continue
				} else if err != nil {
					return err
				}
				if _, err := tx.Get(doneKey(r.tt, r.idx)); err == nil {
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
		}
	}
	for i, r := range batch {
		r.reply <- res[i]
	}
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
