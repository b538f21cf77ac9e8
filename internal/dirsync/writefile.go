package dirsync

import (
	"os"
	"path/filepath"
)

// WriteFile replaces the file at path with data, durably and all at
// once: data goes to a temporary file in path's directory (mode perm),
// which is fsynced, renamed over path, and the directory fsynced (Sync).
// A reader sees the old content or the new, never part of it; on error
// the temporary file is removed and path is as it was, unless the error
// is the directory's sync, after which the new content is in place but
// may not survive a machine crash.
func WriteFile(path string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	return Sync(dir)
}
