package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/internal/dirsync"
	"github.com/segue-fm/segue/internal/filekind"
)

// errIsDir reports an output path, or an input, naming a directory.
var errIsDir = errors.New("is a directory")

// errNotRegular reports an output path naming something other than a
// regular file or a directory: a device, a FIFO, a socket. Renaming the
// finished file into place would replace it (run as root, `segue decode
// in.ogg /dev/full` replaced the device node with a WAV file). It reports
// such an input too (openRegular).
var errNotRegular = errors.New("not a regular file")

// openRegular opens path for reading if it is a regular file, through
// symbolic links. A directory (errIsDir) or anything else (errNotRegular)
// is refused from its os.Stat, before it is opened: opening a FIFO blocks
// until a writer opens it, and a signal does not end that wait (`segue
// ingest` of a FIFO master or `segue play --effect FIFO` hung, Ctrl-C or
// not).
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	switch {
	case err != nil:
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
			pe.Op = "open" // what failed is opening the input
		}
		return nil, err
	case st.IsDir():
		return nil, errIsDir
	case !st.Mode().IsRegular():
		return nil, fmt.Errorf("%w (%s)", errNotRegular, filekind.Of(st.Mode()))
	}
	return os.Open(path)
}

// pendingFile is an output file written under a temporary name next to
// its path and renamed into place by Commit, so the path holds either
// the complete new file or what it held before, never a partial one.
type pendingFile struct {
	*os.File
	path string
	done bool
}

// createPending creates the temporary file for path in path's
// directory, locked while it is open (lockPending), after removing the
// temporary files for path that commands killed while writing them left
// (unlocked ones). The caller ends it with Commit or Discard. An empty
// path (a usage error), and a path naming a directory (errIsDir) or, even
// through a symbolic link, anything else that is not a regular file
// (errNotRegular), are refused at once, not after the work of writing the
// file. The file gets the mode os.Create would give path: that of the
// file it replaces, else 0666 less the umask.
func createPending(path string) (*pendingFile, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: the output path is empty", errUsage)
	}
	st, err := os.Stat(path)
	if err == nil {
		switch {
		case st.IsDir():
			return nil, fmt.Errorf("create %s: %w", path, errIsDir)
		case !st.Mode().IsRegular():
			return nil, fmt.Errorf("create %s: %w (%s), which writing the output would replace", path, errNotRegular, filekind.Of(st.Mode()))
		}
	}
	pattern := "." + filepath.Base(path) + ".*.tmp"
	if stale, err := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(pattern))); err == nil {
		for _, s := range stale {
			if abandoned(s) {
				os.Remove(s)
			}
		}
	}
	f, err := createTemp(filepath.Dir(path), pattern)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	if st != nil && st.Mode().IsRegular() {
		err = f.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = lockPending(f)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("create %s: lock: %w", path, err)
	}
	return &pendingFile{File: f, path: path}, nil
}

// createTemp is os.CreateTemp with mode 0666 less the umask instead of
// 0600: an output file is the user's, readable as os.Create makes it
// (`segue play --out` and `segue decode` wrote 0600 WAV files).
func createTemp(dir, pattern string) (*os.File, error) {
	prefix, suffix, _ := strings.Cut(pattern, "*")
	for range 10000 {
		name := filepath.Join(dir, prefix+strconv.FormatUint(uint64(rand.Uint32()), 10)+suffix)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, &fs.PathError{Op: "createtemp", Path: filepath.Join(dir, pattern), Err: fs.ErrExist}
}

// globEscape escapes the glob metacharacters of a CreateTemp pattern
// except its one '*'.
func globEscape(pattern string) string {
	before, after, _ := strings.Cut(pattern, "*")
	esc := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			if strings.ContainsRune(`*?[\`, r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		return b.String()
	}
	return esc(before) + "*" + esc(after)
}

// syncDir makes a rename in a directory durable (dirsync.Sync; tests
// replace it to fail).
var syncDir = dirsync.Sync

// Commit syncs and closes the file, renames it to its path and syncs
// the directory, so that a crash after it returns keeps the new file;
// on a failure before the rename the temporary file is removed and path
// is untouched. A failing directory sync is returned after the rename:
// path then holds the complete new file, which a crash may still undo.
func (p *pendingFile) Commit() error {
	err := p.Sync()
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.Name(), p.path)
	}
	if err != nil {
		os.Remove(p.Name())
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	p.done = true
	if err := syncDir(filepath.Dir(p.path)); err != nil {
		return fmt.Errorf("write %s: %w", p.path, err)
	}
	return nil
}

// Discard closes and removes the temporary file unless Commit succeeded.
func (p *pendingFile) Discard() {
	if p.done {
		return
	}
	p.Close()
	os.Remove(p.Name())
}
