/*
 * segue fork: the next memtable is made ahead of use (FORK.md).
 */

package badger

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func spareTestOptions(dir string) Options {
	return getTestOptions(dir).WithMemTableSize(1 << 20).WithValueThreshold(1 << 10)
}

func setKey(t *testing.T, db *DB, i int, val []byte) {
	t.Helper()
	require.NoError(t, db.Update(func(txn *Txn) error {
		return txn.Set([]byte(fmt.Sprintf("key%06d", i)), val)
	}))
}

// writeUntilSpare writes keys from i on until the spare is ready and
// returns the next key and the spare's fid.
func writeUntilSpare(t *testing.T, db *DB, i int, val []byte) (int, uint32) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ; ; i++ {
		setKey(t, db, i, val)
		db.lock.RLock()
		spare := db.spare.mt
		db.lock.RUnlock()
		if spare != nil {
			return i + 1, spare.wal.fid
		}
		require.True(t, time.Now().Before(deadline), "no spare memtable was made")
	}
}

func memFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+memFileExt))
	require.NoError(t, err)
	return m
}

func requireKeys(t *testing.T, db *DB, n int, val []byte) {
	t.Helper()
	require.NoError(t, db.View(func(txn *Txn) error {
		for i := 0; i < n; i++ {
			item, err := txn.Get([]byte(fmt.Sprintf("key%06d", i)))
			if err != nil {
				return fmt.Errorf("key %d: %w", i, err)
			}
			require.Equal(t, val, getItemValue(t, item), "key %d", i)
		}
		return nil
	}))
}

// TestSpareMemtableTakenAtRotation checks that the spare is made while
// the current memtable fills, that the write path takes it when the
// memtable is full (a fid above the full one's), that every write is
// kept over several rotations and a reopen, and that Close leaves no
// memtable file behind.
func TestSpareMemtableTakenAtRotation(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(spareTestOptions(dir))
	require.NoError(t, err)
	val := make([]byte, 512)
	for i := range val {
		val[i] = byte(i)
	}
	i := 0
	for round := 0; round < 4; round++ {
		db.lock.RLock()
		full := db.mt
		db.lock.RUnlock()
		var fid uint32
		i, fid = writeUntilSpare(t, db, i, val)
		require.Greater(t, fid, full.wal.fid)
		for {
			setKey(t, db, i, val)
			i++
			db.lock.RLock()
			cur := db.mt
			db.lock.RUnlock()
			if cur != full {
				require.Equal(t, fid, cur.wal.fid, "round %d: the write path made its own memtable", round)
				break
			}
		}
	}
	requireKeys(t, db, i, val)
	require.NoError(t, db.Close())
	require.Empty(t, memFiles(t, dir), "memtable files left after Close")

	db, err = Open(spareTestOptions(dir))
	require.NoError(t, err)
	requireKeys(t, db, i, val)
	require.NoError(t, db.Close())
}

// TestSpareMemtableAfterCrash copies the directory of an open database
// that holds a spare (as a crash would leave it: the spare's empty WAL
// on disk beside the current memtable's) and opens the copy: every
// synced write is there and the spare's file is gone.
func TestSpareMemtableAfterCrash(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(spareTestOptions(dir).WithSyncWrites(true))
	require.NoError(t, err)
	defer func() { require.NoError(t, db.Close()) }()
	val := make([]byte, 512)
	n, fid := writeUntilSpare(t, db, 0, val)
	spareFile := db.mtFilePath(int(fid))
	require.FileExists(t, spareFile)

	crashed := t.TempDir()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		copyFile(t, filepath.Join(dir, e.Name()), filepath.Join(crashed, e.Name()))
	}
	copy, err := Open(spareTestOptions(crashed))
	require.NoError(t, err)
	requireKeys(t, copy, n, val)
	require.NoFileExists(t, filepath.Join(crashed, filepath.Base(spareFile)))
	setKey(t, copy, n, val)
	require.NoError(t, copy.Close())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.Create(to)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

// TestSpareMemtableDiscardedByDropAll checks that DropAll, which makes
// its own memtable, drops a ready spare (its file removed) so that no
// memtable with a lower fid is used after a newer one.
func TestSpareMemtableDiscardedByDropAll(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(spareTestOptions(dir))
	require.NoError(t, err)
	val := make([]byte, 512)
	_, fid := writeUntilSpare(t, db, 0, val)
	spareFile := db.mtFilePath(int(fid))
	require.NoError(t, db.DropAll())
	require.NoFileExists(t, spareFile)
	db.lock.RLock()
	require.Nil(t, db.spare.mt)
	require.Greater(t, db.mt.wal.fid, fid)
	db.lock.RUnlock()

	n, _ := writeUntilSpare(t, db, 0, val)
	requireKeys(t, db, n, val)
	require.NoError(t, db.Close())
	require.Empty(t, memFiles(t, dir))
	db, err = Open(spareTestOptions(dir))
	require.NoError(t, err)
	requireKeys(t, db, n, val)
	require.NoError(t, db.Close())
}

// TestNoSpareForSmallStores checks that a store that fills less than
// half a memtable never makes a spare.
func TestNoSpareForSmallStores(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(spareTestOptions(dir))
	require.NoError(t, err)
	val := make([]byte, 512)
	for i := 0; i < 100; i++ {
		setKey(t, db, i, val)
	}
	db.spare.wg.Wait()
	db.lock.RLock()
	require.Nil(t, db.spare.mt)
	require.False(t, db.spare.busy)
	db.lock.RUnlock()
	require.Len(t, memFiles(t, dir), 1)
	require.NoError(t, db.Close())
}

// BenchmarkRotatingCommit reports the latency of the commits that
// find the memtable full and rotate it (rotate-ms, median and max)
// against the others (other-ms): 512-byte values in 16 MiB memtables;
// run with -benchtime 300000x or more (about 30,000 commits a rotation).
// With a spare ready, a rotating commit does not make the next
// memtable (a WAL file and an arena) under db.lock.
func BenchmarkRotatingCommit(b *testing.B) {
	db, err := Open(getTestOptions(b.TempDir()).WithMemTableSize(16 << 20).WithValueThreshold(1 << 10))
	require.NoError(b, err)
	defer func() { require.NoError(b, db.Close()) }()
	val := make([]byte, 512)
	var rotating, other []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		db.lock.RLock()
		before := db.mt
		db.lock.RUnlock()
		start := time.Now()
		require.NoError(b, db.Update(func(txn *Txn) error {
			return txn.Set([]byte(fmt.Sprintf("key%09d", i)), val)
		}))
		d := time.Since(start)
		db.lock.RLock()
		rotated := db.mt != before
		db.lock.RUnlock()
		if rotated {
			rotating = append(rotating, d)
		} else {
			other = append(other, d)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(len(rotating)), "rotations")
	if len(rotating) == 0 {
		return // b.N too small: the first run has b.N 1
	}
	slices.Sort(rotating)
	slices.Sort(other)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(rotating[len(rotating)/2]), "rotate-p50-ms")
	b.ReportMetric(ms(rotating[len(rotating)-1]), "rotate-max-ms")
	b.ReportMetric(ms(other[len(other)*99/100]), "other-p99-ms")
}

// TestSpareFailureNotRetriedPerWrite checks that when the spare cannot
// be made (a file already holds its fid) the write path makes the next
// memtable itself, every write is kept, the other file is not deleted,
// and the failure is not retried on every write until the next
// memtable: one fid is reserved for it, not one per write.
func TestSpareFailureNotRetriedPerWrite(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(spareTestOptions(dir))
	require.NoError(t, err)
	val := make([]byte, 512)
	db.lock.RLock()
	fid := db.nextMemFid
	db.lock.RUnlock()
	blocker := db.mtFilePath(fid)
	require.NoError(t, os.WriteFile(blocker, []byte("not a memtable"), 0o600))

	i := 0
	for ; ; i++ {
		setKey(t, db, i, val)
		// A spare started by this write ends before the next write:
		// else, on a loaded machine, the writes could fill the memtable
		// and rotate (reserving a fid) before the attempt fails.
		db.spare.wg.Wait()
		db.lock.RLock()
		failed := db.spare.failed
		db.lock.RUnlock()
		if failed {
			break
		}
		require.Less(t, i, 10000, "the spare's failure was not recorded")
	}
	db.lock.RLock()
	next := db.nextMemFid
	db.lock.RUnlock()
	require.Equal(t, fid+1, next, "one fid reserved for the failed spare")
	for j := 0; j < 200; j++ {
		i++
		setKey(t, db, i, val)
		db.lock.RLock()
		mtFid, next, spare := db.mt.wal.fid, db.nextMemFid, db.spare.mt
		db.lock.RUnlock()
		if int(mtFid) == fid-1 {
			require.Equal(t, fid+1, next, "the failure was retried before the next memtable")
			require.Nil(t, spare)
		}
	}
	got, err := os.ReadFile(blocker)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(got), "not a memtable"), "the other file: %q", got)
	requireKeys(t, db, i+1, val)
	require.NoError(t, db.Close())
}
