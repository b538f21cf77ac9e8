package core

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// histPrefix is the store prefix of the play history queue:
// hist/<u64 big-endian seq> → CBOR model.PlayEvent (docs/ARCHITECTURE.md §5).
var histPrefix = []byte("hist/")

// History is the device's durable, append-only queue of play events,
// waiting to be uploaded (Engine.UploadPlays sends them in signed batches;
// the relay de-duplicates by (device, sequence number)). Sequence numbers increase strictly and are
// never reused, even after Ack. It is safe for concurrent use and
// implements player.History. It belongs to its engine: after the engine's
// Close (which closes it after the player, so the player's last events
// are kept) every method returns ErrClosed.
type History struct {
	st     store.Store
	calls  *gate
	mu     sync.Mutex
	next   uint64
	loaded bool
	// stamp completes events appended without a Source (Engine.stampPlay).
	stamp func(context.Context, *model.PlayEvent)
}

// HistoryEntry is one queued play event and its sequence number.
type HistoryEntry struct {
	Seq   uint64
	Event model.PlayEvent
}

// History returns the engine's play history queue (the same one on every
// call, created by Open).
func (e *Engine) History() *History { return e.history }

var histEnc, histDec = func() (cbor.EncMode, cbor.DecMode) {
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

func histKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), histPrefix...), seq)
}

// load finds the next sequence number: one past the newest entry, or past
// the high-water mark kept when the queue was emptied.
func (h *History) load(ctx context.Context) error {
	if h.loaded {
		return nil
	}
	var last uint64
	found := false
	err := h.st.Iterate(ctx, histPrefix, true, func(k, _ []byte) error {
		if len(k) == len(histPrefix)+8 {
			last, found = binary.BigEndian.Uint64(k[len(histPrefix):]), true
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: load history: %w", err)
	}
	switch b, err := h.st.Get(ctx, histMarkKey); {
	case err == nil && len(b) == 8:
		if m := binary.BigEndian.Uint64(b); !found || m > last {
			last, found = m, true
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("core: load history: %w", err)
	}
	if found {
		h.next = last + 1
	}
	h.loaded = true
	return nil
}

// histMarkKey (hist/mark, never 8 bytes after the prefix so it is not an
// entry) keeps the highest sequence number issued at the last Ack, so
// numbers are not reused after the queue is drained.
var histMarkKey = []byte("hist/mark")

// Append stores ev durably at the end of the queue and returns its
// sequence number.
func (h *History) Append(ctx context.Context, ev model.PlayEvent) error {
	_, err := h.AppendSeq(ctx, ev)
	return err
}

// AppendSeq is Append returning the entry's sequence number. An event
// without a Source (as the player records them) is completed first: its
// source, and for an offline play the start time on the downloads'
// trusted license clock (Engine.stampPlay).
func (h *History) AppendSeq(ctx context.Context, ev model.PlayEvent) (uint64, error) {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	if h.stamp != nil && ev.Source == "" {
		h.stamp(ctx, &ev)
	}
	b, err := histEnc.Marshal(ev)
	if err != nil {
		return 0, fmt.Errorf("core: encode play event: %w", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.load(ctx); err != nil {
		return 0, err
	}
	seq := h.next
	if err := h.st.Set(ctx, histKey(seq), b); err != nil {
		return 0, fmt.Errorf("core: append play event: %w", err)
	}
	h.next++
	return seq, nil
}

// List returns up to limit queued entries, oldest first (all when limit
// ≤ 0). The entries are owned by the caller. An entry that does not
// decode is reported as an error naming its sequence number.
func (h *History) List(ctx context.Context, limit int) ([]HistoryEntry, error) {
	return h.listFrom(ctx, 0, limit)
}

// listFrom is List of the entries with a sequence number ≥ from.
func (h *History) listFrom(ctx context.Context, from uint64, limit int) ([]HistoryEntry, error) {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	var out []HistoryEntry
	err = h.st.Iterate(ctx, histPrefix, false, func(k, v []byte) error {
		if len(k) != len(histPrefix)+8 {
			return nil
		}
		seq := binary.BigEndian.Uint64(k[len(histPrefix):])
		if seq < from {
			return nil
		}
		var ev model.PlayEvent
		if err := histDec.Unmarshal(v, &ev); err != nil {
			return fmt.Errorf("decode play event %d: %w", seq, err)
		}
		out = append(out, HistoryEntry{Seq: seq, Event: ev})
		if limit > 0 && len(out) >= limit {
			return store.ErrStop
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: list history: %w", err)
	}
	return out, nil
}

// Ack removes every entry with a sequence number ≤ upTo (once uploaded)
// but those in keep, in one transaction.
func (h *History) Ack(ctx context.Context, upTo uint64, keep ...uint64) error {
	ctx, done, err := h.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.load(ctx); err != nil {
		return err
	}
	err = h.st.Update(ctx, func(tx store.Txn) error {
		var keys [][]byte
		err := tx.Iterate(histPrefix, false, func(k, _ []byte) error {
			if len(k) != len(histPrefix)+8 {
				return nil
			}
			seq := binary.BigEndian.Uint64(k[len(histPrefix):])
			if seq > upTo {
				return store.ErrStop
			}
			if !slices.Contains(keep, seq) {
				keys = append(keys, append([]byte(nil), k...))
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
		if h.next > 0 {
			return tx.Set(histMarkKey, binary.BigEndian.AppendUint64(nil, h.next-1))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("core: ack history: %w", err)
	}
	return nil
}
