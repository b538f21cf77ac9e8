/*
 * segue fork: the next memtable is made ahead of use (FORK.md).
 */

package badger

import (
	"os"
	"sync"

	"github.com/dgraph-io/ristretto/v2/z"
)

// spareMemTable holds the memtable that the write path takes when the
// current one is full, made ahead of use by a background goroutine so
// that a write does not wait, under db.lock, for a new WAL file to be
// created, truncated and mapped and for a new arena.
//
// Invariant: a spare's fid is greater than that of every memtable made
// before it, and no memtable is made between it and its use: every
// other maker (Open, DropAll, DropPrefix, Close) discards the spare
// first, under db.lock, and moves gen on so that a spare still being
// made is discarded when it is done. A spare's WAL holds only its
// header; if the process stops with one on disk, openMemTables finds
// it empty and deletes it.
type spareMemTable struct {
	mt   *memTable // guarded by db.lock
	busy bool      // a goroutine is making one; guarded by db.lock
	// failed: making one failed since the current memtable was made;
	// the write path makes the next itself. Guarded by db.lock.
	failed bool
	gen    uint64 // guarded by db.lock
	wg     sync.WaitGroup
}

// maybePrepareSpare starts making the spare once the current memtable
// is half full, at most once per memtable (a failure is not retried
// until the next one). A store that never fills half a memtable never
// makes one. db.lock is held.
func (db *DB) maybePrepareSpare() {
	s := &db.spare
	if db.opt.InMemory || db.opt.ReadOnly || s.mt != nil || s.busy || s.failed || db.IsClosed() {
		return
	}
	if db.mt.sl.MemSize() < db.opt.MemTableSize/2 && int64(db.mt.wal.writeAt) < db.opt.MemTableSize/2 {
		return
	}
	fid, gen := db.nextMemFid, s.gen
	db.nextMemFid++
	s.busy = true
	s.wg.Add(1)
	go db.prepareSpare(fid, gen)
}

// prepareSpare makes the memtable with the reserved fid outside
// db.lock, then offers it as the spare.
func (db *DB) prepareSpare(fid int, gen uint64) {
	defer db.spare.wg.Done()
	mt, err := db.openMemTable(fid, os.O_CREATE|os.O_RDWR)
	if err != z.NewFile {
		if err == nil {
			// The file existed: an old memtable is there; leave it.
			err = os.ErrExist
		}
		if mt != nil {
			_ = mt.wal.Close(-1) // without deleting the file
		}
		db.opt.Warningf("preparing the next memtable (fid %d): %v; the write path will make it", fid, err)
		db.lock.Lock()
		db.spare.busy, db.spare.failed = false, true
		db.lock.Unlock()
		return
	}
	db.lock.Lock()
	s := &db.spare
	s.busy = false
	if s.gen != gen || db.IsClosed() {
		db.lock.Unlock()
		mt.DecrRef() // deletes its WAL
		return
	}
	s.mt = mt
	db.lock.Unlock()
}

// takeSpare returns the spare, or nil when none is ready. db.lock is
// held.
func (db *DB) takeSpare() *memTable {
	mt := db.spare.mt
	db.spare.mt, db.spare.failed = nil, false
	return mt
}

// discardSpareLocked drops the spare and makes one being made be
// dropped when it is done, before another memtable is made. db.lock is
// held.
func (db *DB) discardSpareLocked() {
	s := &db.spare
	s.gen++
	s.failed = false
	if s.mt != nil {
		s.mt.DecrRef()
		s.mt = nil
	}
}
