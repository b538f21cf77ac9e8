package download

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/segue-fm/segue/internal/dirsync"
	"github.com/segue-fm/segue/internal/diskfree"
	"github.com/segue-fm/segue/store"
)

// blobFiles stores pinned (downloaded) blobs as files, content addressed:
// DIR/abcdef… where abcdef… is the hex SHA-256 of the encrypted bytes,
// all in one directory, so that a group commit fsyncs one directory
// whatever its size (with a fan-out of subdirectories nearly every blob
// lands in its own, and each needs its own fsync). A blob is written to
// DIR/tmp/, fsynced, renamed into place and DIR fsynced before the
// manager records its done bit in the store, so a done bit always names a
// durable file; a crash between rename and commit leaves an orphan file
// that reconcile removes at the next start.
//
// File names and the store's reference counts are kept consistent per
// hash by stripe locks: installing a file and committing its reference
// happen under the hash's lock, and so do deciding that nothing
// references it and unlinking it.
//
// With a store instead of a directory (Deps.BlobStore, for platforms with
// no file system such as the browser), see blobstore.go: the same methods
// keep each blob as a value of that store.
type blobFiles struct {
	dir   string
	st    store.Store // non-nil: blobs are store values, dir is unused
	locks [64]sync.Mutex
	// writeFault, when set (tests), is asked before every write to a
	// temp file and fails it with its error, as a full disk would.
	writeFault func() error
	// free reports the free bytes of dir's file system (diskfree.Free; tests
	// replace it).
	free func(dir string) (uint64, bool)
}

const tmpDir = "tmp"

func newBlobFiles(dir string, st store.Store) (*blobFiles, error) {
	switch {
	case dir != "" && st != nil:
		return nil, errors.New("download: both a blob directory and a blob store")
	case st != nil:
		return &blobFiles{st: st}, nil
	case dir == "":
		return nil, errors.New("download: no blob directory")
	}
	if err := os.MkdirAll(filepath.Join(dir, tmpDir), 0o700); err != nil {
		return nil, fmt.Errorf("download: create blob directory: %w", err)
	}
	return &blobFiles{dir: dir, free: diskfree.Free}, nil
}

// checkRoom fails with ErrNoSpace (wrapped in ErrWriteBlob) when storing
// size more bytes would leave less than keep free on the blob
// directory's file system. With a blob store it never fails.
func (f *blobFiles) checkRoom(size, keep int64) error {
	if f.st != nil || keep == 0 {
		return nil
	}
	free, ok := f.free(f.dir)
	if !ok || free >= uint64(size)+uint64(keep) {
		return nil
	}
	return fmt.Errorf("%w: %w: %d KiB free, a %d KiB blob would leave less than the %d KiB downloads keep free",
		ErrWriteBlob, ErrNoSpace, free>>10, (size+1023)>>10, keep>>10)
}

func (f *blobFiles) lock(h [32]byte) *sync.Mutex { return &f.locks[h[0]%byte(len(f.locks))] }

func (f *blobFiles) path(h [32]byte) string {
	return filepath.Join(f.dir, hex.EncodeToString(h[:]))
}

// read returns the file of h (caller-owned); ok is false when there is
// none. It does not verify the bytes.
func (f *blobFiles) read(h [32]byte) (b []byte, ok bool, err error) {
	if f.st != nil {
		return f.storeRead(h)
	}
	b, err = os.ReadFile(f.path(h))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// tempBlob is a blob being written: a file in DIR/tmp hashed as it is
// written, or bytes in memory (buf) with a blob store.
type tempBlob struct {
	f     *os.File // nil with a blob store
	buf   []byte
	h     hash.Hash
	n     int64
	path  string
	fault func() error // blobFiles.writeFault
}

func (f *blobFiles) create() (*tempBlob, error) {
	if f.st != nil {
		return &tempBlob{h: sha256.New()}, nil
	}
	file, err := os.CreateTemp(filepath.Join(f.dir, tmpDir), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("%w: create temp file: %w", ErrWriteBlob, err)
	}
	return &tempBlob{f: file, h: sha256.New(), path: file.Name(), fault: f.writeFault}, nil
}

// Write writes p to the file and the hash; a failed write wraps
// ErrWriteBlob.
func (t *tempBlob) Write(p []byte) (int, error) {
	if t.f == nil {
		t.buf = append(t.buf, p...)
		t.h.Write(p)
		t.n += int64(len(p))
		return len(p), nil
	}
	if t.fault != nil {
		if err := t.fault(); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrWriteBlob, err)
		}
	}
	n, err := t.f.Write(p)
	t.h.Write(p[:n])
	t.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("%w: %w", ErrWriteBlob, err)
	}
	return n, nil
}

// reset truncates the file for another attempt (a no-op, without
// syscalls, while nothing was written); a failure wraps ErrWriteBlob.
func (t *tempBlob) reset() error {
	if t.n == 0 {
		return nil
	}
	t.h.Reset()
	t.n = 0
	if t.f == nil {
		t.buf = t.buf[:0]
		return nil
	}
	if _, err := t.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%w: rewind: %w", ErrWriteBlob, err)
	}
	if err := t.f.Truncate(0); err != nil {
		return fmt.Errorf("%w: truncate: %w", ErrWriteBlob, err)
	}
	return nil
}

func (t *tempBlob) sum() (s [32]byte) {
	t.h.Sum(s[:0])
	return s
}

// finish fsyncs and closes the file.
func (t *tempBlob) finish() error {
	if t.f == nil {
		return nil
	}
	if err := t.f.Sync(); err != nil {
		t.f.Close()
		return fmt.Errorf("%w: sync: %w", ErrWriteBlob, err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("%w: close: %w", ErrWriteBlob, err)
	}
	return nil
}

// discard closes and removes the temp file.
func (t *tempBlob) discard() {
	if t.f == nil {
		t.buf = nil
		return
	}
	t.f.Close()
	os.Remove(t.path)
}

// install moves a finished temp file to h's name (or stores the bytes
// with a blob store); the caller fsyncs the blob directory (sync) before
// recording the blob. Caller holds f.lock(h).
func (f *blobFiles) install(t *tempBlob, h [32]byte) error {
	if f.st != nil {
		return f.storeInstall(t, h)
	}
	if err := renameFile(t.path, f.path(h)); err != nil {
		return fmt.Errorf("install blob: %w", err)
	}
	return nil
}

// remove unlinks h's file (missing is fine). Caller holds f.lock(h).
func (f *blobFiles) remove(h [32]byte) error {
	if f.st != nil {
		return f.storeRemove(h)
	}
	if err := os.Remove(f.path(h)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove blob: %w", err)
	}
	return nil
}

// list returns every blob file with its size, and removes leftovers of
// interrupted writes in DIR/tmp. Names that are not blob names are
// ignored. Blob files of the earlier layout (DIR/ab/cdef…) are moved to
// DIR/abcdef… first.
func (f *blobFiles) list() (map[[32]byte]int64, error) {
	if f.st != nil {
		return f.storeList()
	}
	tmps, err := os.ReadDir(filepath.Join(f.dir, tmpDir))
	if err != nil {
		return nil, fmt.Errorf("list temp blobs: %w", err)
	}
	for _, t := range tmps {
		os.Remove(filepath.Join(f.dir, tmpDir, t.Name()))
	}
	if err := f.flatten(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(f.dir)
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	out := map[[32]byte]int64{}
	for _, e := range ents {
		h, ok := blobName(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out[h] = info.Size()
	}
	return out, nil
}

// sync makes the installs durable: one fsync of the blob directory (a
// blob store's writes are durable when they return).
func (f *blobFiles) sync() error {
	if f.st != nil {
		return nil
	}
	return dirsync.Sync(f.dir)
}

// blobName parses a blob file name (64 lowercase hex digits).
func blobName(name string) (h [32]byte, ok bool) {
	if len(name) != 2*len(h) || strings.ToLower(name) != name {
		return h, false
	}
	_, err := hex.Decode(h[:], []byte(name))
	return h, err == nil
}

// flatten moves blob files of the fan-out layout (DIR/ab/cdef…) to
// DIR/abcdef… and removes the emptied directories.
func (f *blobFiles) flatten() error {
	subs, err := os.ReadDir(f.dir)
	if err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	moved := false
	for _, s := range subs {
		if !s.IsDir() || len(s.Name()) != 2 || s.Name() == tmpDir {
			continue
		}
		sub := filepath.Join(f.dir, s.Name())
		ents, err := os.ReadDir(sub)
		if err != nil {
			return fmt.Errorf("list blobs: %w", err)
		}
		for _, e := range ents {
			if _, ok := blobName(s.Name() + e.Name()); ok && !e.IsDir() {
				if err := renameFile(filepath.Join(sub, e.Name()), filepath.Join(f.dir, s.Name()+e.Name())); err != nil {
					return fmt.Errorf("move blob file: %w", err)
				}
				moved = true
			}
		}
		os.Remove(sub) // only if empty
	}
	if moved {
		return dirsync.Sync(f.dir)
	}
	return nil
}
