//go:build linux

/*
 * segue fork: tests of writeBack (FORK.md).
 */

package table

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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
