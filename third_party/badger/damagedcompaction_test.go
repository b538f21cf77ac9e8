package badger

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/stretchr/testify/require"
)

// TestCompactionAbandonsDamagedTable (segue fork): a table iterator ends
// at a block that fails its checksum as if the table ended there, so a
// compaction of that table wrote new tables without the keys after the
// block and deleted the damaged one: keys lost for good without an error.
// The compaction must fail instead, the damaged table kept.
func TestCompactionAbandonsDamagedTable(t *testing.T) {
	dir := t.TempDir()
	opt := DefaultOptions(dir).WithLogger(nil).WithChecksumVerificationMode(options.OnBlockRead)
	db, err := Open(opt)
	require.NoError(t, err)
	val := make([]byte, 200)
	for i := range 500 {
		copy(val, fmt.Sprintf("value %d", i))
		require.NoError(t, db.Update(func(txn *Txn) error { return txn.Set(fmt.Appendf(nil, "k%05d", i), val) }))
	}
	require.NoError(t, db.Close())
	tables, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	require.NoError(t, err)
	require.Len(t, tables, 1)
	b, err := os.ReadFile(tables[0])
	require.NoError(t, err)
	b[len(b)/4] ^= 0xff // a byte of a block near the start, far from the index
	require.NoError(t, os.WriteFile(tables[0], b, 0o644))

	var reported int
	db, err = Open(opt.WithOnBlockError(func(string, error) { reported++ }))
	require.NoError(t, err)
	err = db.lc.doCompact(0, compactionPriority{level: 0, score: 1.71})
	require.Error(t, err, "the compaction of a damaged table succeeded")
	require.NoError(t, db.Close())
	require.Positive(t, reported)
	_, err = os.Stat(tables[0])
	require.NoError(t, err, "the damaged table was deleted")
}
