//go:build linux

/*
 * segue fork: tests of writeBack (FORK.md).
 */

package table

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2/z"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestWriteBackClosedFile checks that writeBack reports the failure of
// sync_file_range instead of ignoring it.
func TestWriteBackClosedFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	require.NoError(t, err)
	_, err = f.Write(make([]byte, 3*writeBackChunk/2))
	require.NoError(t, err)
	require.NoError(t, writeBack(f, 3*writeBackChunk/2))
	require.NoError(t, f.Close())
	require.Error(t, writeBack(f, 3*writeBackChunk/2))
}

// BenchmarkSyncBehindTable measures what writeBack is for: a small writer
// appends 1 KiB to a file and fdatasyncs it in a loop (a memtable WAL's
// commits) while a 32 MiB table copied into an mmap is made durable, with
// one msync (upstream) or writeBack then msync. It reports the small
// syncs' worst latency during the table's write and how long the table
// took.
func BenchmarkSyncBehindTable(b *testing.B) {
	const size = 32 << 20
	src := make([]byte, size)
	_, _ = rand.Read(src)
	for _, chunked := range []bool{false, true} {
		b.Run(fmt.Sprintf("chunked=%v", chunked), func(b *testing.B) {
			dir := b.TempDir()
			var worst, table time.Duration
			for i := 0; b.Loop(); i++ {
				wal, err := os.Create(filepath.Join(dir, fmt.Sprintf("%d.wal", i)))
				require.NoError(b, err)
				mf, err := z.OpenMmapFile(filepath.Join(dir, fmt.Sprintf("%d.sst", i)), os.O_CREATE|os.O_RDWR|os.O_EXCL, size)
				require.ErrorIs(b, err, z.NewFile)
				copy(mf.Data, src)
				stop := make(chan struct{})
				small := make(chan time.Duration)
				go func() {
					var longest time.Duration
					buf := make([]byte, 1<<10)
					for {
						select {
						case <-stop:
							small <- longest
							return
						default:
						}
						t := time.Now()
						if _, err := wal.Write(buf); err != nil {
							panic(err)
						}
						if err := unix.Fdatasync(int(wal.Fd())); err != nil {
							panic(err)
						}
						longest = max(longest, time.Since(t))
					}
				}()
				time.Sleep(20 * time.Millisecond)
				t0 := time.Now()
				if chunked {
					require.NoError(b, writeBack(mf.Fd, size))
				}
				require.NoError(b, z.Msync(mf.Data))
				table += time.Since(t0)
				close(stop)
				worst = max(worst, <-small)
				require.NoError(b, mf.Delete())
				require.NoError(b, wal.Close())
			}
			b.ReportMetric(float64(worst)/1e6, "worst-small-sync-ms")
			b.ReportMetric(float64(table)/1e6/float64(b.N), "table-ms")
		})
	}
}
