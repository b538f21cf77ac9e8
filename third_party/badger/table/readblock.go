/*
 * segue fork: blocks read with pread, not through the file's mapping (FORK.md).
 */

package table

import (
	"sync"

	"github.com/dgraph-io/badger/v4/options"
	"github.com/dgraph-io/ristretto/v2/z"
)

// blockReadPool holds the buffers readBlock reads a block into when the
// block is then decrypted or decompressed into memory of its own.
var blockReadPool = sync.Pool{New: func() any { return new([]byte) }}

// readBlock returns the n bytes of the block at off. A table backed by a
// file reads them with pread (segue fork, FORK.md) rather than slicing its
// mapping, so that reading a block leaves none of the file's pages mapped
// in the process: a read through a mapping maps the pages it touches
// (with the kernel's fault-around, 64 KiB about each) for the table's
// life, and a process that reads its whole store once would hold the
// whole store resident, beside the block cache that keeps the same blocks
// decompressed. When the block is then decrypted or decompressed, the
// bytes are read into a pooled buffer that release returns to the pool
// (the caller calls it once the block no longer refers to the bytes);
// otherwise into memory the block owns (owned: Block.freeMe). An
// in-memory table returns a slice of its data, as upstream does.
func (t *Table) readBlock(off, n int) (data []byte, owned bool, release func(), err error) {
	if t.IsInmemory || t.MmapFile == nil || t.Fd == nil {
		data, err = t.read(off, n)
		return data, false, func() {}, err
	}
	if t.shouldDecrypt() || t.opt.Compression != options.None {
		bp := blockReadPool.Get().(*[]byte)
		if cap(*bp) < n {
			*bp = make([]byte, n)
		}
		buf := (*bp)[:n]
		release = func() { blockReadPool.Put(bp) }
		if _, err := t.Fd.ReadAt(buf, int64(off)); err != nil {
			release()
			return nil, false, func() {}, err
		}
		return buf, false, release, nil
	}
	buf := z.Calloc(n, "Table.ReadBlock")
	if _, err := t.Fd.ReadAt(buf, int64(off)); err != nil {
		z.Free(buf)
		return nil, false, func() {}, err
	}
	return buf, true, func() {}, nil
}
