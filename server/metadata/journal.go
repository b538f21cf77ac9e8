package metadata

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/store"
)

// ErrBusy is returned when a journal of another import is found while
// beginning one (Recover was not run after a crash).
var ErrBusy = errors.New("metadata: an unfinished import is in the journal (run Recover)")

// Journal states.
const (
	stateApplying  = "applying"
	stateCommitted = "committed"
)

type journal struct {
	State string `cbor:"1,keyasint"`
	Next  uint64 `cbor:"2,keyasint"` // next undo sequence number
}

// undo is what one write replaced: the key's previous value, or its
// absence.
type undo struct {
	Key []byte `cbor:"1,keyasint"`
	Old []byte `cbor:"2,keyasint,omitempty"`
	Had bool   `cbor:"3,keyasint,omitempty"`
}

func readJournal(ctx context.Context, st store.Store) (journal, bool, error) {
	b, err := st.Get(ctx, journalKey)
	if errors.Is(err, store.ErrNotFound) {
		return journal{}, false, nil
	}
	if err != nil {
		return journal{}, false, fmt.Errorf("metadata: read journal: %w", err)
	}
	var j journal
	if err := dec.Unmarshal(b, &j); err != nil {
		return journal{}, false, fmt.Errorf("metadata: decode journal: %w", err)
	}
	return j, true, nil
}

func putJournal(tx store.Txn, j journal) error {
	b, err := cborx.Marshal(j)
	if err != nil {
		return fmt.Errorf("metadata: encode journal: %w", err)
	}
	return tx.Set(journalKey, b)
}

func (im *Importer) begin(ctx context.Context) error {
	return im.st.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(journalKey); err == nil {
			return ErrBusy
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return putJournal(tx, journal{State: stateApplying})
	})
}

// commit marks the journal committed: from here on the import stays.
func (im *Importer) commit(ctx context.Context) error {
	return im.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(journalKey)
		if err != nil {
			return fmt.Errorf("metadata: read journal: %w", err)
		}
		var j journal
		if err := dec.Unmarshal(b, &j); err != nil {
			return fmt.Errorf("metadata: decode journal: %w", err)
		}
		j.State = stateCommitted
		return putJournal(tx, j)
	})
}

// undoBatch bounds the undo records handled per transaction.
const undoBatch = 1000

// rollback restores what the undo log recorded, newest first, then
// removes the journal. The undo records are exactly the sequence numbers
// below the journal's Next (each write transaction adds its records and
// advances Next together), so each batch reads its records by key and
// lowers Next in the same transaction: no listing that would walk the
// tombstones of earlier batches, and a crash in between resumes where
// the last committed batch ended.
func (im *Importer) rollback(ctx context.Context) error {
	for {
		j, ok, err := readJournal(ctx, im.st)
		if err != nil {
			return err
		}
		if !ok || j.Next == 0 {
			break
		}
		lo := j.Next - min(undoBatch, j.Next)
		err = im.st.Update(ctx, func(tx store.Txn) error {
			for seq := j.Next; seq > lo; {
				seq--
				k := undoKey(seq)
				v, err := tx.Get(k)
				if errors.Is(err, store.ErrNotFound) {
					continue // restored by an older version that did not lower Next
				}
				if err != nil {
					return err
				}
				var u undo
				if err := dec.Unmarshal(v, &u); err != nil {
					return fmt.Errorf("metadata: decode undo %d: %w", seq, err)
				}
				if u.Had {
					err = tx.Set(u.Key, u.Old)
				} else {
					err = tx.Delete(u.Key)
				}
				if err == nil {
					err = tx.Delete(k)
				}
				if err != nil {
					return err
				}
			}
			j.Next = lo
			return putJournal(tx, j)
		})
		if err != nil {
			return fmt.Errorf("metadata: roll back: %w", err)
		}
	}
	if err := im.st.Delete(ctx, journalKey); err != nil {
		return fmt.Errorf("metadata: remove journal: %w", err)
	}
	return nil
}

// cleanup drops the undo log of a committed import, then its journal.
// It lists the undo keys in one pass, then deletes them a batch at a
// time: listing again after each batch walked every deleted key's
// tombstone from the start, quadratic (a 1,000,000-track import spent
// over half an hour there).
func (im *Importer) cleanup(ctx context.Context) error {
	var keys [][]byte
	err := im.st.Iterate(ctx, undoPrefix, false, func(k, _ []byte) error {
		keys = append(keys, bytes.Clone(k))
		return nil
	})
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		batch := keys[:min(undoBatch, len(keys))]
		keys = keys[len(batch):]
		err = im.st.Update(ctx, func(tx store.Txn) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("metadata: remove undo log: %w", err)
		}
	}
	if err := im.st.Delete(ctx, journalKey); err != nil {
		return fmt.Errorf("metadata: remove journal: %w", err)
	}
	return nil
}

// Recover finishes what an interrupted import left: an import that had
// not committed is rolled back, the undo log of one that had is removed.
// It reports whether it found one. Run it after opening the store and
// before reading the imported records or the search index.
func (im *Importer) Recover(ctx context.Context) (bool, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	j, ok, err := readJournal(ctx, im.st)
	if err != nil || !ok {
		return false, err
	}
	if j.State == stateCommitted {
		im.opts.logger.Info("metadata: removing the undo log of a committed import")
		return true, im.cleanup(ctx)
	}
	im.opts.logger.Warn("metadata: rolling back an interrupted import")
	return true, im.rollback(ctx)
}

// writer writes the records of a validated file chunk by chunk, each
// chunk in one transaction with its undo records.
type writer struct {
	im    *Importer
	names Names
}

func (w *writer) run(ctx context.Context, r io.Reader) error {
	return chunks(r, w.im.opts.chunk, func(chunk []Record) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return w.write(ctx, chunk)
	})
}

// txWriter writes through tx recording an undo record per key.
type txWriter struct {
	tx   store.Txn
	j    *journal
	seen map[string]bool
}

func (t *txWriter) put(key, value []byte) error {
	if !t.seen[string(key)] {
		t.seen[string(key)] = true
		old, err := t.tx.Get(key)
		u := undo{Key: key, Old: old, Had: err == nil}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		b, err := cborx.Marshal(u)
		if err != nil {
			return fmt.Errorf("metadata: encode undo: %w", err)
		}
		if err := t.tx.Set(undoKey(t.j.Next), b); err != nil {
			return err
		}
		t.j.Next++
	}
	if value == nil {
		return t.tx.Delete(key)
	}
	return t.tx.Set(key, value)
}

func (w *writer) write(ctx context.Context, chunk []Record) error {
	var extra []KV
	if w.im.hook != nil {
		var err error
		if extra, err = w.im.hook.Writes(ctx, chunk, w.names); err != nil {
			return err
		}
	}
	return w.im.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(journalKey)
		if err != nil {
			return fmt.Errorf("metadata: read journal: %w", err)
		}
		var j journal
		if err := dec.Unmarshal(b, &j); err != nil {
			return fmt.Errorf("metadata: decode journal: %w", err)
		}
		t := &txWriter{tx: tx, j: &j, seen: map[string]bool{}}
		for _, rec := range chunk {
			v, err := rec.value()
			if err != nil {
				return fmt.Errorf("metadata: encode %s: %w", rec.Kind, err)
			}
			if rec.Kind == KindTrack {
				if err := w.moveISRC(t, rec.Track); err != nil {
					return err
				}
			}
			if err := t.put(rec.key(), v); err != nil {
				return err
			}
		}
		for _, kv := range extra {
			if err := t.put(kv.Key, kv.Value); err != nil {
				return err
			}
		}
		return putJournal(tx, j)
	})
}

// moveISRC points cmeta/isrc at the track, dropping the index of the
// ISRC it had before.
func (w *writer) moveISRC(t *txWriter, tr *Track) error {
	old, err := t.tx.Get(trackKey(tr.ID))
	if err == nil {
		var prev Track
		if err := dec.Unmarshal(old, &prev); err != nil {
			return fmt.Errorf("metadata: decode track %q: %w", tr.ID, err)
		}
		if prev.ISRC != "" && prev.ISRC != tr.ISRC {
			if err := t.put(isrcKey(prev.ISRC), nil); err != nil {
				return err
			}
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if tr.ISRC == "" {
		return nil
	}
	return t.put(isrcKey(tr.ISRC), []byte(tr.ID))
}

// Attach records that imported track id plays the audio of catalog
// track audio (written with extra, the caller's index writes, in one
// transaction). It returns ErrNotFound when id was never imported.
func (im *Importer) Attach(ctx context.Context, id, audio string, extra ...KV) error {
	if err := checkID("track id", id); err != nil {
		return err
	}
	if err := checkID("audio track id", audio); err != nil {
		return err
	}
	im.mu.Lock()
	defer im.mu.Unlock()
	return im.st.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(trackKey(id)); errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: track %q", ErrNotFound, id)
		} else if err != nil {
			return err
		}
		if err := tx.Set(audioKey(id), []byte(audio)); err != nil {
			return err
		}
		for _, kv := range extra {
			var err error
			if kv.Value == nil {
				err = tx.Delete(kv.Key)
			} else {
				err = tx.Set(kv.Key, kv.Value)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}
