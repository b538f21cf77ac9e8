package access

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segue-fm/segue/store"
)

// Store keys (docs/ARCHITECTURE.md §5):
//
//	acc/r/<YYYY-MM-DD>/<u64 time ms BE><u64 seq BE>  an encoded Record
//	acc/seq                                           u64 BE, the next seq
//
// The UTC day is a prefix so a day (and retention) is one prefix scan;
// seq keeps records of the same millisecond apart and is advanced in the
// batch's transaction. Times before 1970 are refused by Write.
var (
	recPrefix = []byte("acc/r/")
	seqKey    = []byte("acc/seq")
)

// dayPrefix returns acc/r/<day of t>/.
func dayPrefix(t time.Time) []byte {
	return append(t.UTC().AppendFormat(append([]byte(nil), recPrefix...), time.DateOnly), '/')
}

func recKey(t int64, seq uint64) []byte {
	k := dayPrefix(time.UnixMilli(t))
	k = binary.BigEndian.AppendUint64(k, uint64(t))
	return binary.BigEndian.AppendUint64(k, seq)
}

// storeSink writes batches into a store.Store, one transaction each.
type storeSink struct{ st store.Store }

// NewStoreWriter returns a Writer keeping records in st (the relay's
// Badger store: every batch is one durable transaction). The Writer does
// not own st: Close leaves it open.
func NewStoreWriter(st store.Store, opts Options) Writer {
	return newBatcher(storeSink{st}, opts)
}

func (s storeSink) writeBatch(ctx context.Context, recs []Record, enc [][]byte) error {
	return s.st.Update(ctx, func(tx store.Txn) error {
		var next uint64
		switch v, err := tx.Get(seqKey); {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case len(v) != 8:
			return fmt.Errorf("%w: acc/seq of %d bytes", ErrCorrupt, len(v))
		default:
			next = binary.BigEndian.Uint64(v)
		}
		for i, r := range recs {
			if err := tx.Set(recKey(r.Time, next), enc[i]); err != nil {
				return err
			}
			next++
		}
		return tx.Set(seqKey, binary.BigEndian.AppendUint64(nil, next))
	})
}

func (storeSink) close() error { return nil }

// Reader reads recorded accesses back.
type Reader interface {
	// Scan calls fn for every record with from ≤ Time < to, day by UTC
	// day; within a day the store backend returns them by time (then
	// write order), the file backend in write order (the server's clock
	// order, so nearly by time). An error from fn ends the scan and is
	// returned.
	Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error
}

// MultiReader returns a Reader over the records of every reader in rs:
// the relay's store and each edge's files (segue reconcile --edge-access).
// Scan scans them one after the other, so records are not in time order
// across readers; reconciliation sums them and needs no order.
func MultiReader(rs ...Reader) Reader { return multiReader(slices.Clone(rs)) }

type multiReader []Reader

func (m multiReader) Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	for _, r := range m {
		if err := r.Scan(ctx, from, to, fn); err != nil {
			return err
		}
	}
	return nil
}

type storeReader struct{ st store.Store }

// NewStoreReader returns a Reader over the records NewStoreWriter keeps
// in st.
func NewStoreReader(st store.Store) Reader { return storeReader{st} }

func (s storeReader) Scan(ctx context.Context, from, to time.Time, fn func(Record) error) error {
	low, err := firstKept(func(k []byte) ([]byte, error) { return s.st.Get(ctx, k) })
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	if err := checkKept(from, low); err != nil {
		return err
	}
	lo, hi := from.UnixMilli(), to.UnixMilli()
	for day := startOfDay(from); day.Before(to); day = day.AddDate(0, 0, 1) {
		err := s.st.Iterate(ctx, dayPrefix(day), false, func(k, v []byte) error {
			if len(k) < 16 {
				return fmt.Errorf("%w: key %x", ErrCorrupt, k)
			}
			t := int64(binary.BigEndian.Uint64(k[len(k)-16:]))
			if t < lo {
				return nil
			}
			if t >= hi {
				return store.ErrStop
			}
			r, err := Decode(v)
			if err != nil {
				return fmt.Errorf("%w: key %x: %w", ErrCorrupt, k, err)
			}
			return fn(r)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// startOfDay returns 00:00 UTC of t's UTC day.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
