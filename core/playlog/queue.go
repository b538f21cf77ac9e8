package playlog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// Prefix is the store prefix of the queue: Prefix ‖ u64 big-endian seq
// → CBOR model.PlayEvent (docs/ARCHITECTURE.md §5). Other keys under it
// (MarkKey, and keys of another length) are not entries.
var Prefix = []byte("hist/")

// MarkKey (never 8 bytes after Prefix, so it is not an entry) keeps the
// highest sequence number issued at the last Ack, so numbers are not
// reused after the queue is drained.
var MarkKey = []byte("hist/mark")

// BadPrefix is where Ack sets aside an entry that does not decode (a
// damaged store value): BadPrefix ‖ u64 big-endian seq → the value as it
// was. It is outside Prefix, so such an entry is neither listed nor
// uploaded again; nothing reads it but a person looking into the store.
var BadPrefix = []byte("histbad/")

// Entry is one queued play event and its sequence number.
type Entry struct {
	Seq   uint64
	Event model.PlayEvent
	// Err is not nil when the stored event does not decode (Event is then
	// zero): Upload counts it as rejected (Undecodable) and Ack sets it
	// aside under BadPrefix.
	Err error
}

// Queue is the durable, append-only queue of play events in a store.
// Sequence numbers increase strictly and are never reused, even after
// Ack. It is safe for concurrent use; one Queue at a time may use a
// store.
type Queue struct {
	st     store.Store
	shared bool
	mu     sync.Mutex
	next   uint64
	loaded bool
}

// New returns the queue kept in st, which no other Queue uses meanwhile.
func New(st store.Store) *Queue { return &Queue{st: st} }

// NewShared returns the queue kept in st for a store that other
// processes append to as well (the browser tabs of one origin share their
// IndexedDB): every Append reads the highest number issued back from the
// store (MarkKey) and records its own in the same transaction, so one
// tab's numbers do not repeat the ones another issued since it opened —
// which would overwrite that tab's queued play or, once it was uploaded,
// be refused by the relay as a seq_conflict. Two appends at the same
// instant in two processes can still take one number unless the store
// serializes its Updates across them (wasm/idbstore does, with a Web
// Lock).
func NewShared(st store.Store) *Queue { return &Queue{st: st, shared: true} }

// highest returns the number stored at MarkKey in tx (ok false when none).
func highest(tx store.Txn) (seq uint64, ok bool, err error) {
	switch b, err := tx.Get(MarkKey); {
	case err == nil && len(b) == 8:
		return binary.BigEndian.Uint64(b), true, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return 0, false, err
	}
	return 0, false, nil
}

var enc, dec = func() (cbor.EncMode, cbor.DecMode) {
	o := cbor.CoreDetEncOptions()
	o.Time = cbor.TimeRFC3339Nano
	em, err := o.EncMode()
	if err != nil {
		panic(err) // static options
	}
	dm, err := cbor.DecOptions{MaxArrayElements: 16, MaxMapPairs: 16, MaxNestedLevels: 4}.DecMode()
	if err != nil {
		panic(err) // static options
	}
	return em, dm
}()

// Key returns the store key of the entry seq.
func Key(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), Prefix...), seq)
}

// badKey returns the key under BadPrefix an entry seq that does not
// decode is set aside at.
func badKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), BadPrefix...), seq)
}

// seqOf returns the sequence number of an entry's key; ok is false for
// another key under Prefix.
func seqOf(k []byte) (seq uint64, ok bool) {
	if len(k) != len(Prefix)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(Prefix):]), true
}

// load finds the next sequence number: one past the newest entry, or past
// the high-water mark kept when the queue was emptied. q.mu is held.
func (q *Queue) load(ctx context.Context) error {
	if q.loaded {
		return nil
	}
	var last uint64
	found := false
	err := q.st.Iterate(ctx, Prefix, true, func(k, _ []byte) error {
		if seq, ok := seqOf(k); ok {
			last, found = seq, true
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load play history: %w", err)
	}
	switch b, err := q.st.Get(ctx, MarkKey); {
	case err == nil && len(b) == 8:
		if m := binary.BigEndian.Uint64(b); !found || m > last {
			last, found = m, true
		}
	case err == nil:
		// A damaged mark: the numbers issued before are unknown, and
		// reusing one makes the relay refuse that play (seq_conflict).
		if m := damagedMarkFloor(); !found || m > last {
			last, found = m, true
		}
		slog.Warn("playlog: high-water mark damaged; numbering plays on from the clock", "key", string(MarkKey), "len", len(b), "next", last+1)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("load play history: %w", err)
	}
	if found {
		q.next = last + 1
	}
	q.loaded = true
	return nil
}

// damagedMarkFloor is the number a queue whose MarkKey does not decode
// goes on after: the wall clock in microseconds (≈ 2^51 now, below
// countable until the year 4250), above every number a device counting
// from 0, or from an earlier such floor, issued at fewer than one play a
// microsecond.
func damagedMarkFloor() uint64 { return uint64(max(time.Now().UnixMicro(), 0)) }

// Append stores ev durably at the end of the queue and returns its
// sequence number.
func (q *Queue) Append(ctx context.Context, ev model.PlayEvent) (uint64, error) {
	return q.Replace(ctx, ev, nil)
}

// Replace is Append that also deletes the key old (when not nil) in the
// same transaction: a play event kept elsewhere in the store is moved
// into the queue without a moment where it is in both places or neither.
func (q *Queue) Replace(ctx context.Context, ev model.PlayEvent, old []byte) (uint64, error) {
	b, err := enc.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("encode play event: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.load(ctx); err != nil {
		return 0, err
	}
	seq := q.next
	if old == nil && !q.shared {
		err = q.st.Set(ctx, Key(seq), b)
	} else {
		err = q.st.Update(ctx, func(tx store.Txn) error {
			seq = q.next
			if q.shared {
				m, ok, err := highest(tx)
				if err != nil {
					return err
				}
				if ok {
					seq = max(seq, m+1)
				}
				if err := tx.Set(MarkKey, binary.BigEndian.AppendUint64(nil, seq)); err != nil {
					return err
				}
			}
			if old != nil {
				if err := tx.Delete(old); err != nil {
					return err
				}
			}
			return tx.Set(Key(seq), b)
		})
	}
	if err != nil {
		return 0, fmt.Errorf("append play event: %w", err)
	}
	q.next = seq + 1
	return seq, nil
}

// List returns up to limit entries with a sequence number ≥ from, oldest
// first (all when limit ≤ 0), owned by the caller. An entry that does not
// decode is listed with its Err set, naming its sequence number, so it
// does not hide the entries after it.
func (q *Queue) List(ctx context.Context, from uint64, limit int) ([]Entry, error) {
	var out []Entry
	err := q.st.Iterate(ctx, Prefix, false, func(k, v []byte) error {
		seq, ok := seqOf(k)
		if !ok || seq < from {
			return nil
		}
		var ev model.PlayEvent
		var bad error
		if err := dec.Unmarshal(v, &ev); err != nil {
			ev, bad = model.PlayEvent{}, fmt.Errorf("decode play event %d: %w", seq, err)
		}
		out = append(out, Entry{Seq: seq, Event: ev, Err: bad})
		if limit > 0 && len(out) >= limit {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list play history: %w", err)
	}
	return out, nil
}

// NewestTrusted returns the end (Started + Played) of the newest queued
// play stamped with trusted time (model.PlayEvent.TrustedTime: an
// offline play, core), looking at the newest look entries at most, and
// whether there is one. Such an end is a time the device's trusted
// license clock had reached: a floor for it (download.Manager.RaiseClock).
// Entries that do not decode are skipped.
func (q *Queue) NewestTrusted(ctx context.Context, look int) (time.Time, bool, error) {
	var end time.Time
	found, seen := false, 0
	err := q.st.Iterate(ctx, Prefix, true, func(k, v []byte) error {
		if _, ok := seqOf(k); !ok {
			return nil
		}
		seen++
		var ev model.PlayEvent
		if dec.Unmarshal(v, &ev) == nil && ev.TrustedTime {
			end, found = ev.Started.Add(ev.Played), true
			return store.ErrStop
		}
		if seen >= look {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read newest trusted play: %w", err)
	}
	return end, found, nil
}

// Counter is a store.Store that counts the keys in a range without
// reading them (wasm/idbstore.Store); Queue.Len uses it.
type Counter interface {
	// Count returns how many keys k the store holds with lo ≤ k < hi.
	Count(ctx context.Context, lo, hi []byte) (int, error)
}

// countable is one past the highest sequence number Len counts with a
// Counter: the keys of the entries below it are exactly the keys that
// begin Prefix ‖ 0x00 (the store's other keys under Prefix, MarkKey and
// the web player's old hist/<event id>, begin with a printable byte).
const countable = 1 << 56

// Len returns how many entries the queue holds, reading no value: with a
// Counter store and every number issued below 2^56 (MarkKey and this
// Queue's own), one count of a key range; else an iteration over the
// keys.
func (q *Queue) Len(ctx context.Context) (int, error) {
	if c, ok := q.st.(Counter); ok {
		n, ok, err := q.count(ctx, c)
		if err != nil {
			return 0, fmt.Errorf("count play history: %w", err)
		}
		if ok {
			return n, nil
		}
	}
	n := 0
	err := q.st.Iterate(ctx, Prefix, false, func(k, _ []byte) error {
		if _, ok := seqOf(k); ok {
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("count play history: %w", err)
	}
	return n, nil
}

// AckEntries removes the entries of batch (as List returned them, once
// uploaded) but those whose sequence number is in keep, in one
// transaction, by key: nothing is read or decoded but an entry listed
// with Err set, which is moved under BadPrefix as it is stored (when it
// is still there), and the high-water mark (MarkKey). Upload
// acknowledges its batches so.
func (q *Queue) AckEntries(ctx context.Context, batch []Entry, keep ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.load(ctx); err != nil {
		return err
	}
	err := q.st.Update(ctx, func(tx store.Txn) error {
		for _, e := range batch {
			if slices.Contains(keep, e.Seq) {
				continue
			}
			k := Key(e.Seq)
			if e.Err != nil {
				switch v, err := tx.Get(k); {
				case err == nil:
					if err := tx.Set(badKey(e.Seq), v); err != nil {
						return err
					}
				case !errors.Is(err, store.ErrNotFound):
					return err
				}
			}
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return q.raiseMark(tx)
	})
	if err != nil {
		return fmt.Errorf("ack play history: %w", err)
	}
	return nil
}

// raiseMark records in tx the highest number q issued at MarkKey when it
// is above the one stored: the mark only rises, as another process may
// have issued more. q.mu is held.
func (q *Queue) raiseMark(tx store.Txn) error {
	m, ok, err := highest(tx)
	if err != nil {
		return err
	}
	if q.next > 0 && (!ok || q.next-1 > m) {
		return tx.Set(MarkKey, binary.BigEndian.AppendUint64(nil, q.next-1))
	}
	return nil
}

// count is Len with a Counter; ok is false when a number at or above
// countable was issued.
func (q *Queue) count(ctx context.Context, c Counter) (n int, ok bool, err error) {
	q.mu.Lock()
	if err := q.load(ctx); err != nil {
		q.mu.Unlock()
		return 0, false, err
	}
	next := q.next
	q.mu.Unlock()
	switch b, err := q.st.Get(ctx, MarkKey); {
	case err == nil && len(b) == 8:
		next = max(next, binary.BigEndian.Uint64(b)+1)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return 0, false, err
	}
	if next == 0 || next > countable {
		return 0, false, nil
	}
	n, err = c.Count(ctx, Key(0), Key(countable))
	return n, err == nil, err
}

// Ack removes every entry with a sequence number ≤ upTo (once uploaded)
// but those in keep, in one transaction; an entry that does not decode is
// moved under BadPrefix instead. It reads and decodes every entry up to
// upTo; AckEntries, when the batch is known, reads none.
func (q *Queue) Ack(ctx context.Context, upTo uint64, keep ...uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.load(ctx); err != nil {
		return err
	}
	err := q.st.Update(ctx, func(tx store.Txn) error {
		var keys [][]byte
		bad := map[uint64][]byte{}
		err := tx.Iterate(Prefix, false, func(k, v []byte) error {
			seq, ok := seqOf(k)
			if !ok {
				return nil
			}
			if seq > upTo {
				return store.ErrStop
			}
			if slices.Contains(keep, seq) {
				return nil
			}
			keys = append(keys, append([]byte(nil), k...))
			var ev model.PlayEvent
			if dec.Unmarshal(v, &ev) != nil {
				bad[seq] = bytes.Clone(v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for seq, v := range bad {
			if err := tx.Set(badKey(seq), v); err != nil {
				return err
			}
		}
		return q.raiseMark(tx)
	})
	if err != nil {
		return fmt.Errorf("ack play history: %w", err)
	}
	return nil
}
