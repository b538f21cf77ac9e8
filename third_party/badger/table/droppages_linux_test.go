/*
 * segue fork: tests of dropPages (FORK.md).
 */

package table

import (
	"bufio"
	"crypto/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/badger/v4/y"
)

// mappedRSS returns the resident bytes of the process's mappings of
// the file name (the Rss lines of /proc/self/smaps under its headers).
func mappedRSS(t *testing.T, name string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) == 6 && fields[5] == name
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, err := strconv.Atoi(fields[1])
			require.NoError(t, err)
			total += kb << 10
		}
	}
	require.NoError(t, sc.Err())
	return total
}

// TestCreateTableDropsPages: a table written (8 MiB of incompressible
// values) is not left resident in the process's mapping of it — only
// what opening it read (its index) is — and every key and value reads
// back from it afterwards.
func TestCreateTableDropsPages(t *testing.T) {
	const valueSize, n = 16 << 10, 512
	opts := Options{Compression: options.None, BlockSize: 4 << 10, BloomFalsePositive: 0.01,
		TableSize: 16 << 20, ChkMode: options.NoVerification}
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

	size := int(tbl.Size())
	require.Greater(t, size, n*valueSize)
	rss := mappedRSS(t, name)
	t.Logf("table of %d bytes: %d resident after CreateTable", size, rss)
	require.Less(t, rss, size/8, "the written table stays resident in its mapping")

	it := tbl.NewIterator(0)
	defer it.Close()
	i := 0
	for it.Rewind(); it.Valid(); it.Next() {
		require.Equal(t, key("k", i), string(y.ParseKey(it.Key())))
		require.Equal(t, values[i], it.Value().Value)
		i++
	}
	require.Equal(t, n, i)
}
