/*
 * segue fork: the flushed memtable is released outside db.lock (FORK.md).
 */

package badger

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFlushReleasesMemtableOutsideLock fills a memtable until it is
// flushed and checks that the deletion of its WAL (the skiplist's OnClose,
// run by its last reference) does not run under db.lock, which every write
// takes: a write must not wait for the file's removal.
func TestFlushReleasesMemtableOutsideLock(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(getTestOptions(dir).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()

	lockFree := make(chan bool, 1)
	db.lock.Lock()
	mt := db.mt
	deleteWAL := mt.sl.OnClose
	mt.sl.OnClose = func() {
		free := db.lock.TryLock()
		if free {
			db.lock.Unlock()
		}
		lockFree <- free
		deleteWAL()
	}
	db.lock.Unlock()

	val := make([]byte, 512)
	for i := 0; ; i++ {
		require.NoError(t, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%06d", i)), val)
		}))
		db.lock.RLock()
		rotated := db.mt != mt
		db.lock.RUnlock()
		if rotated {
			break
		}
	}
	select {
	case free := <-lockFree:
		require.True(t, free, "the flushed memtable's WAL was deleted under db.lock")
	case <-time.After(30 * time.Second):
		t.Fatal("the full memtable was not flushed")
	}
}
