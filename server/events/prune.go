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

// pruneTx is how many chunks one Prune transaction removes at most
// (≤ 64 × 256 entries).
const pruneTx = 64

// Prune implements Pruner, in transactions of at most 64 chunks. The
// chunk holding the first kept offset always starts there: a chunk cut by
// upTo is rewritten from upTo on.
func (l *StoreLog) Prune(ctx context.Context, before time.Time, upTo uint64) (int, error) {
	if err := l.ready(ctx); err != nil {
		return 0, fmt.Errorf("events: prune: %w", err)
	}
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
		n, done = 0, true
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
		var cur *chunkRec // the last chunk removed from
		var next *chunkRec
		for chunks := 0; off < head; chunks++ {
			c, err := readChunk(tx, off)
			if err != nil {
				return err
			}
			if off >= end || c.Received >= cut {
				next = &c
				break
			}
			if chunks == pruneTx {
				next, done = &c, false
				break
			}
			if cur != nil && cur.Batch != c.Batch {
				if err := tx.Delete(batchKey(cur.Batch)); err != nil {
					return err
				}
			}
			if err := tx.Delete(chunkKey(off)); err != nil {
				return err
			}
			cur = &c
			k := min(uint64(len(c.Events)), end-off)
			n += int(k)
			if k < uint64(len(c.Events)) {
				tail := c
				tail.Events = c.Events[k:]
				rec, err := enc.Marshal(tail)
				if err != nil {
					return err
				}
				if err := tx.Set(chunkKey(off+k), rec); err != nil {
					return err
				}
				next = &tail
				off += k
				break
			}
			off += k
		}
		// The last chunk's batch goes too unless a kept entry refers to it.
		if cur != nil && (next == nil || next.Batch != cur.Batch) {
			if err := tx.Delete(batchKey(cur.Batch)); err != nil {
				return err
			}
		}
		return tx.Set(lowKey, binary.BigEndian.AppendUint64(nil, off))
	})
	return n, done, err
}

// readChunk returns the chunk starting at off.
func readChunk(tx store.Txn, off uint64) (chunkRec, error) {
	b, err := tx.Get(chunkKey(off))
	if errors.Is(err, store.ErrNotFound) {
		return chunkRec{}, fmt.Errorf("%w: no chunk starts at %d", ErrCorrupt, off)
	}
	if err != nil {
		return chunkRec{}, fmt.Errorf("read chunk %d: %w", off, err)
	}
	return decodeChunk(off, b)
}

// FirstKept returns the offset of the first entry of log that retention
// has not removed: 0 when none was, the head when all were. It works on
// any Log by probing Read, which returns ErrPruned below that offset
// (one Read when nothing was pruned, about log2(head) otherwise).
func FirstKept(ctx context.Context, log Log) (uint64, error) {
	head, err := log.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("events: first kept: %w", err)
	}
	// Entries below lo are pruned; hi is kept, or the head.
	lo, hi := uint64(0), head
	for probe := uint64(0); lo < hi; probe = lo + (hi-lo)/2 {
		_, err := log.Read(ctx, probe, 1)
		switch {
		case errors.Is(err, ErrPruned):
			lo = probe + 1
		case err != nil:
			return 0, fmt.Errorf("events: first kept: %w", err)
		default:
			hi = probe
		}
	}
	return lo, nil
}
