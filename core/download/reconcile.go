package download

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// doneEntry is one done bit: dl/done/<tier>/<track>/<u32 index> →
// hash ‖ u64 size.
type doneEntry struct {
	key  []byte
	tt   trackTier
	hash [32]byte
	size int64
}

// parseDone decodes a done bit; ok is false for a malformed one.
func parseDone(k, v []byte) (doneEntry, bool) {
	var e doneEntry
	if len(v) != 40 || len(k) < len(pDone)+4+4 {
		return e, false
	}
	rest := k[len(pDone) : len(k)-4]
	if rest[len(rest)-1] != '/' {
		return e, false
	}
	tier, track, ok := bytes.Cut(rest[:len(rest)-1], []byte("/"))
	if !ok || len(tier) == 0 || len(track) == 0 {
		return e, false
	}
	e.key = append([]byte(nil), k...)
	e.tt = trackTier{model.TrackID(track), model.Tier(tier)}
	copy(e.hash[:], v)
	e.size = int64(binary.BigEndian.Uint64(v[32:]))
	return e, true
}

// reconcile brings the blob files and the store into agreement after a
// crash, before any download starts: partial temp files and blob files
// no reference names (a kill -9 between rename and commit, or between a
// release's commit and its unlink) are removed, and done bits whose file
// is missing or has the wrong size are dropped so that those blobs are
// downloaded again. Content hashes are checked on every read (Blob) and
// by Verify, not here: hashing every download at each start would cost
// seconds per gigabyte.
func (m *Manager) reconcile(ctx context.Context) error {
	present, err := m.files.list()
	if err != nil {
		return err
	}
	referenced := map[[32]byte]bool{}
	err = m.d.Store.Iterate(ctx, []byte(pRef), false, func(k, _ []byte) error {
		var h [32]byte
		if n, err := hexDecode(h[:], k[len(pRef):]); err == nil && n == len(h) {
			referenced[h] = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list blob references: %w", err)
	}
	orphans := 0
	for h := range present {
		if !referenced[h] {
			mu := m.files.lock(h)
			mu.Lock()
			err := m.files.remove(h)
			mu.Unlock()
			if err != nil {
				return err
			}
			orphans++
		}
	}
	var bad []doneEntry
	err = m.d.Store.Iterate(ctx, []byte(pDone), false, func(k, v []byte) error {
		if e, ok := parseDone(k, v); ok {
			if size, ok := present[e.hash]; !ok || size != e.size || !referenced[e.hash] {
				bad = append(bad, e)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list done blobs: %w", err)
	}
	if orphans > 0 || len(bad) > 0 {
		m.log.Info("download: reconciled blob files", "orphans_removed", orphans, "blobs_to_refetch", len(bad))
	}
	if err := m.dropDone(ctx, bad); err != nil {
		return err
	}
	return m.recountRefs(ctx)
}

// recountRefs repairs damaged records of the blob references: a done bit
// whose value is not a hash and a size is deleted and its job marked
// incomplete (the blob is downloaded again), and each off/ref count is
// set to the number of done bits naming its blob (deleted, with the
// file, at none). Before, such a done bit released nothing and a count
// too high never reached zero: the blob file and its reference stayed
// for ever. It holds itemMu, so no request changes meanwhile; it runs
// before any download.
func (m *Manager) recountRefs(ctx context.Context) error {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	named := map[[32]byte]uint32{}
	var malformed []doneEntry
	err := m.d.Store.Iterate(ctx, []byte(pDone), false, func(k, v []byte) error {
		if e, ok := parseDone(k, v); ok {
			named[e.hash]++
		} else if e, ok := parseDone(k, make([]byte, 40)); ok {
			malformed = append(malformed, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: count blob references: %w", err)
	}
	type fix struct {
		key []byte
		h   [32]byte
		n   uint32
	}
	var fixes []fix
	err = m.d.Store.Iterate(ctx, []byte(pRef), false, func(k, v []byte) error {
		var h [32]byte
		if n, err := hexDecode(h[:], k[len(pRef):]); err != nil || n != len(h) {
			return nil
		}
		if len(v) != 4 || binary.BigEndian.Uint32(v) != named[h] {
			fixes = append(fixes, fix{append([]byte(nil), k...), h, named[h]})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: count blob references: %w", err)
	}
	if len(malformed) == 0 && len(fixes) == 0 {
		return nil
	}
	m.log.Warn("download: blob reference records damaged; repaired", "done_bits_dropped", len(malformed), "counts_fixed", len(fixes))
	var freed [][32]byte
	err = m.d.Store.Update(ctx, func(tx store.Txn) error {
		freed = freed[:0]
		for _, e := range malformed {
			if err := tx.Delete(e.key); err != nil {
				return err
			}
			if err := incompleteTx(tx, e.tt); err != nil {
				return err
			}
		}
		for _, f := range fixes {
			if f.n == 0 {
				freed = append(freed, f.h)
				if err := tx.Delete(f.key); err != nil {
					return err
				}
			} else if err := tx.Set(f.key, binary.BigEndian.AppendUint32(nil, f.n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: repair blob references: %w", err)
	}
	m.unlinkFreed(ctx, freed)
	for _, e := range malformed {
		m.reloadProgress(ctx, e.tt)
	}
	if len(malformed) > 0 {
		m.busy()
	}
	return nil
}

// hexDecode is hex.Decode that reports a short or bad input as an error
// instead of writing past dst.
func hexDecode(dst, src []byte) (int, error) {
	if len(src) != 2*len(dst) {
		return 0, errors.New("bad hex length")
	}
	n := 0
	for i := 0; i < len(src); i += 2 {
		hi, ok1 := unhex(src[i])
		lo, ok2 := unhex(src[i+1])
		if !ok1 || !ok2 {
			return n, errors.New("bad hex digit")
		}
		dst[n] = hi<<4 | lo
		n++
	}
	return n, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// repairCorrupt drops every done bit naming a blob whose file failed its
// hash on read (Blob), so the blob is downloaded again, and removes the
// file.
func (m *Manager) repairCorrupt(ctx context.Context) error {
	m.mu.Lock()
	if len(m.corrupt) == 0 {
		m.mu.Unlock()
		return nil
	}
	bad := make(map[[32]byte]bool, len(m.corrupt))
	for h := range m.corrupt {
		bad[h] = true
	}
	clear(m.corrupt)
	m.mu.Unlock()
	var drop []doneEntry
	err := m.d.Store.Iterate(ctx, []byte(pDone), false, func(k, v []byte) error {
		if e, ok := parseDone(k, v); ok && bad[e.hash] {
			drop = append(drop, e)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: find corrupt blob: %w", err)
	}
	if err := m.dropDone(ctx, drop); err != nil {
		return err
	}
	hashes := make([][32]byte, 0, len(bad))
	for h := range bad {
		hashes = append(hashes, h)
	}
	m.unlinkFreed(ctx, hashes)
	return nil
}

// dropDone deletes done bits (each releasing its blob reference; blobs
// left without one lose their file) and marks their jobs incomplete, so
// the scheduler downloads those blobs again.
func (m *Manager) dropDone(ctx context.Context, drop []doneEntry) error {
	if len(drop) == 0 {
		return nil
	}
	touched := map[trackTier]bool{}
	for len(drop) > 0 {
		n := min(len(drop), 512)
		batch := drop[:n]
		drop = drop[n:]
		var freed [][32]byte
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			freed = freed[:0]
			for _, e := range batch {
				if _, err := tx.Get(e.key); errors.Is(err, store.ErrNotFound) {
					continue
				} else if err != nil {
					return err
				}
				if err := tx.Delete(e.key); err != nil {
					return err
				}
				gone, err := releaseBlobTx(tx, e.hash)
				if err != nil {
					return err
				}
				if gone {
					freed = append(freed, e.hash)
				}
				if err := incompleteTx(tx, e.tt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("download: drop lost blobs: %w", err)
		}
		m.unlinkFreed(ctx, freed)
		for _, e := range batch {
			touched[e.tt] = true
		}
	}
	for tt := range touched {
		m.reloadProgress(ctx, tt)
	}
	m.busy()
	return nil
}

// incompleteTx marks job tt incomplete in tx when its record says it is
// complete (an incomplete job's progress is counted from its done bits,
// loadJob; zero marks it so); a job gone is left alone.
func incompleteTx(tx store.Txn, tt trackTier) error {
	b, err := tx.Get(jobKey(tt))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	var j jobRec
	if err := strictDec.Unmarshal(b, &j); err != nil {
		return err
	}
	if !j.complete() {
		return nil
	}
	j.Done, j.DoneBytes = 0, 0
	v, err := detEnc.Marshal(&j)
	if err != nil {
		return err
	}
	return tx.Set(jobKey(tt), v)
}

// reloadProgress sets the in-memory progress of job tt from the store
// after some of its done bits were dropped, and lets it be tried again.
func (m *Manager) reloadProgress(ctx context.Context, tt trackTier) {
	j, err := m.loadJob(ctx, tt)
	m.mu.Lock()
	if cur, ok := m.jobs[tt]; ok && err == nil {
		cur.Done, cur.DoneBytes = j.Done, j.DoneBytes
		delete(m.failed, tt)
	}
	m.mu.Unlock()
}

// Verify re-hashes every downloaded blob file and schedules those that
// fail (or are missing) to be downloaded again; it returns how many
// failed. It reads every byte of every download, so apps call it rarely
// (e.g. while charging); reads through Blob are verified anyway.
func (m *Manager) Verify(ctx context.Context) (int, error) {
	if err := m.open(); err != nil {
		return 0, err
	}
	seen := map[[32]byte]bool{}
	var hashes [][32]byte
	err := m.d.Store.Iterate(ctx, []byte(pDone), false, func(k, v []byte) error {
		if e, ok := parseDone(k, v); ok && !seen[e.hash] {
			seen[e.hash] = true
			hashes = append(hashes, e.hash)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("download: verify: %w", err)
	}
	bad := 0
	for _, h := range hashes {
		if err := ctx.Err(); err != nil {
			return bad, err
		}
		_, ok, err := m.Blob(ctx, h)
		if err != nil {
			return bad, err
		}
		if !ok {
			bad++
			m.mu.Lock()
			m.corrupt[h] = true
			m.mu.Unlock()
		}
	}
	if bad > 0 {
		m.busy()
	}
	return bad, nil
}
