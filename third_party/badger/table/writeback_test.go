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

	"github.com/stretchr/testify/require"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
	"github.com/dgraph-io/ristretto/v2/z"
)

// TestCreateTableWriteBack creates tables smaller than one writeBack
// chunk, of exactly two and of two and a half, and reads each back from a
// second mapping of its file with every block's checksum verified.
func TestCreateTableWriteBack(t *testing.T) {
	for _, size := range []int{writeBackChunk / 4, 2 * writeBackChunk, 5 * writeBackChunk / 2} {
		t.Run(fmt.Sprintf("values=%d", size), func(t *testing.T) {
			const valueSize = 16 << 10
			n := size / valueSize
			opts := Options{Compression: options.None, BlockSize: 4 << 10, BloomFalsePositive: 0.01,
				TableSize: uint64(2 * size), ChkMode: options.OnTableRead}
			b := NewTableBuilder(opts)
			defer b.Close()
			values := make([][]byte, n)
			for i := range values {
				values[i] = make([]byte, valueSize)
				_, _ = rand.Read(values[i])
				b.Add(y.KeyWithTs([]byte(key("k", i)), 1), y.ValueStruct{Value: values[i]}, 0)
			}
			name := filepath.Join(t.TempDir(), "000001.sst")
			tbl, err := CreateTable(name, b)
			require.NoError(t, err)
			defer func() { require.NoError(t, tbl.DecrRef()) }()

			mf, err := z.OpenMmapFile(name, os.O_RDWR, 0)
			require.NoError(t, err)
			again, err := OpenTable(mf, opts)
			require.NoError(t, err)
			defer func() { require.NoError(t, mf.Close(-1)) }()
			it := again.NewIterator(0)
			defer it.Close()
			i := 0
			for it.Rewind(); it.Valid(); it.Next() {
				require.Equal(t, key("k", i), string(y.ParseKey(it.Key())))
				require.Equal(t, values[i], it.Value().Value)
				i++
			}
			require.Equal(t, n, i)
		})
	}
}
