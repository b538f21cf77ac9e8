package events

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/store"
)

// ErrPruned: the entry was removed by retention (Pruner.Prune).
var ErrPruned = errors.New("events: pruned by retention")

// Expirer is implemented by logs whose backend deletes raw events by age
// on its own (the NATS backend's JetStream MaxAge), taking their (device,
// seq) de-duplication with them. MaxAge is that age (0: none); the
// counting service refuses plays that started longer ago than it, so an
// expired event can never be appended a second time.
type Expirer interface {
	MaxAge() time.Duration
}

// Pruner is implemented by logs that can drop old raw events.
type Pruner interface {
	// Prune removes the entries received before `before` whose offset is
	// below upTo (the consumer's position: only counted events go), oldest
	// first, stopping at the first entry that must stay, and the batch
	// records no remaining entry refers to. The (device, seq) index stays,
	// so a retried old upload is still a duplicate, never counted again.
	// It returns how many entries it removed; Read below the first kept
	// offset returns ErrPruned.
	Prune(ctx context.Context, before time.Time, upTo uint64) (int, error)
}

var lowKey = []byte("ev/low")

// low returns the first offset not pruned.
func (l *StoreLog) low(get func([]byte) ([]byte, error)) (uint64, error) {
	b, err := get(lowKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("%w: ev/low of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// pruneTx is how many entries one Prune transaction removes at most.
const pruneTx = 1000

// Prune implements Pruner, in transactions of at most 1,000 entries.
func (l *StoreLog) Prune(ctx context.Context, before time.Time, upTo uint64) (int, error) {
	cut := before.UnixMilli()
	total := 0
	for {
		n, done, err := l.pruneStep(ctx, cut, upTo)
		total += n
		if err != nil {
			return total, fmt.Errorf("events: prune: %w", err)
		}
		if done {
			return total, nil
		}
	}
}

func (l *StoreLog) pruneStep(ctx context.Context, cut int64, upTo uint64) (n int, done bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err = l.st.Update(ctx, func(tx store.Txn) error {
		n, done = 0, false
		low, err := l.low(tx.Get)
		if err != nil {
			return err
		}
		head, err := readHead(tx.Get)
		if err != nil {
			return err
		}
		end := min(upTo, head)
		off := low
		var cur *entryRec
		for ; off < end && n < pruneTx; off++ {
			b, err := tx.Get(entryKey(off))
			if err != nil {
				return fmt.Errorf("read %d: %w", off, err)
			}
			var r entryRec
			if err := dec.Unmarshal(b, &r); err != nil {
				return fmt.Errorf("%w: entry %d: %v", ErrCorrupt, off, err)
			}
			if r.Received >= cut {
				break
			}
			if cur != nil && cur.Batch != r.Batch {
				if err := tx.Delete(batchKey(cur.Batch)); err != nil {
					return err
				}
			}
			if err := tx.Delete(entryKey(off)); err != nil {
				return err
			}
			cur = &r
			n++
		}
		if cur != nil {
			// The last removed entry's batch goes too unless a kept
			// entry still refers to it.
			next, err := tx.Get(entryKey(off))
			keep := false
			if err == nil {
				var r entryRec
				if dec.Unmarshal(next, &r) == nil && r.Batch == cur.Batch {
					keep = true
				}
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if !keep {
				if err := tx.Delete(batchKey(cur.Batch)); err != nil {
					return err
				}
			}
		}
		done = n < pruneTx
		return tx.Set(lowKey, binary.BigEndian.AppendUint64(nil, off))
	})
	return n, done, err
}
