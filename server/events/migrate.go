package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// Format 1 of the StoreLog (before chunks): one key per event and one
// de-duplication key per (device, seq). A log in that format is converted
// to format 2 the first time a StoreLog uses it (migrateStep).
var (
	legacyEntryPfx = []byte("ev/l/") // ev/l/<u64 offset> → CBOR legacyEntry
	legacyDedupPfx = []byte("ev/d/") // ev/d/<device>/<u64 seq> → SHA-256 ‖ u64 offset
)

// legacyEntry is a format-1 entry record.
type legacyEntry struct {
	Batch    uint64         `cbor:"1,keyasint"`
	Device   model.DeviceID `cbor:"2,keyasint"`
	User     model.UserID   `cbor:"3,keyasint"`
	Received int64          `cbor:"4,keyasint"`
	Event    api.PlayRecord `cbor:"5,keyasint"`
}

// migrateKeys is how many format-1 keys one migration transaction
// converts at most.
const migrateKeys = 2000

// ready makes sure the log is in format 2, converting a format-1 log
// first (once per StoreLog; appends, reads and pruning wait for it).
func (l *StoreLog) ready(ctx context.Context) error {
	if l.formatOK.Load() {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for !l.formatOK.Load() {
		done, err := l.migrateStep(ctx)
		if err != nil {
			return fmt.Errorf("events: convert the log to format %d: %w", format, err)
		}
		l.formatOK.Store(done)
	}
	return nil
}

// migrateStep converts up to migrateKeys format-1 keys in one
// transaction, de-duplication keys first, then entries (deleting what it
// converted, so a crash resumes where it stopped), and marks the log as
// format 2 when none is left. It reports whether the log is done.
func (l *StoreLog) migrateStep(ctx context.Context) (done bool, err error) {
	err = l.st.Update(ctx, func(tx store.Txn) error {
		done = false
		switch b, err := tx.Get(fmtKey); {
		case err == nil:
			if len(b) != 1 || b[0] != format {
				return fmt.Errorf("%w: log format %x", ErrCorrupt, b)
			}
			done = true
			return nil
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		n, err := migrateDedup(tx)
		if err != nil || n > 0 {
			return err
		}
		if n, err = migrateEntries(tx); err != nil || n > 0 {
			return err
		}
		done = true
		return tx.Set(fmtKey, []byte{format})
	})
	return done, err
}

type kv struct{ k, v []byte }

func collect(tx store.Txn, pfx []byte) ([]kv, error) {
	var out []kv
	err := tx.Iterate(pfx, false, func(k, v []byte) error {
		out = append(out, kv{bytes.Clone(k), bytes.Clone(v)})
		if len(out) == migrateKeys {
			return store.ErrStop
		}
		return nil
	})
	return out, err
}

// migrateDedup moves format-1 de-duplication keys into blocks.
func migrateDedup(tx store.Txn) (int, error) {
	keys, err := collect(tx, legacyDedupPfx)
	if err != nil {
		return 0, err
	}
	blocks := map[string]*dedupBlock{}
	for _, e := range keys {
		if len(e.k) < len(legacyDedupPfx)+10 || e.k[len(e.k)-9] != '/' || len(e.v) < 32 {
			return 0, fmt.Errorf("%w: format-1 dedup key %q", ErrCorrupt, e.k)
		}
		dev := model.DeviceID(e.k[len(legacyDedupPfx) : len(e.k)-9])
		seq := binary.BigEndian.Uint64(e.k[len(e.k)-8:])
		bk := string(blockKey(dev, seq))
		blk := blocks[bk]
		if blk == nil {
			switch raw, err := tx.Get([]byte(bk)); {
			case errors.Is(err, store.ErrNotFound):
				blk = &dedupBlock{}
			case err != nil:
				return 0, err
			default:
				if blk, err = decodeBlock(raw); err != nil {
					return 0, err
				}
			}
			blocks[bk] = blk
		}
		if _, ok := blk.lookup(seq); !ok {
			blk.add(seq, hash8([32]byte(e.v[:32])))
		}
		if err := tx.Delete(e.k); err != nil {
			return 0, err
		}
	}
	for bk, blk := range blocks {
		if err := tx.Set([]byte(bk), blk.encode()); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// migrateEntries moves format-1 entries, oldest first, into chunks: runs
// of consecutive offsets of one batch inside one 256-offset block.
func migrateEntries(tx store.Txn) (int, error) {
	keys, err := collect(tx, legacyEntryPfx)
	if err != nil {
		return 0, err
	}
	var c chunkRec
	var start uint64
	flush := func() error {
		if len(c.Events) == 0 {
			return nil
		}
		rec, err := enc.Marshal(c)
		if err != nil {
			return err
		}
		c.Events = nil
		return tx.Set(chunkKey(start), rec)
	}
	for _, e := range keys {
		if len(e.k) != len(legacyEntryPfx)+8 {
			return 0, fmt.Errorf("%w: format-1 entry key %q", ErrCorrupt, e.k)
		}
		off := binary.BigEndian.Uint64(e.k[len(legacyEntryPfx):])
		var r legacyEntry
		if err := dec.Unmarshal(e.v, &r); err != nil {
			return 0, fmt.Errorf("%w: format-1 entry %d: %v", ErrCorrupt, off, err)
		}
		next := start + uint64(len(c.Events))
		if len(c.Events) == 0 || off != next || off%BlockEvents == 0 || r.Batch != c.Batch {
			if err := flush(); err != nil {
				return 0, err
			}
			c = chunkRec{Batch: r.Batch, Device: r.Device, User: r.User, Received: r.Received}
			start = off
		}
		c.Events = append(c.Events, api.WireOf(r.Event))
		if err := tx.Delete(e.k); err != nil {
			return 0, err
		}
	}
	return len(keys), flush()
}
