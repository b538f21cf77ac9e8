package badgerstore

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// openDirs are the directories of the stores open in this process, so a
// second Open of one says so: the flock probe (probeLock) cannot tell
// this process's lock from another's, and refused it as "another
// process".
var openDirs struct {
	mu   sync.Mutex
	dirs map[*openDir]struct{}
}

// openDir is one entry of openDirs: a directory being opened or open.
type openDir struct {
	path string // absolute and clean
}

// holdDir adds dir to openDirs, or returns ErrLocked when it is there
// already, by the same path or, for a directory that exists, another
// path to it (a symbolic link).
func holdDir(dir string) (*openDir, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("badgerstore: open %s: %w", dir, err)
	}
	fi, statErr := os.Stat(abs)
	openDirs.mu.Lock()
	defer openDirs.mu.Unlock()
	for d := range openDirs.dirs {
		same := d.path == abs
		if !same && statErr == nil {
			if other, err := os.Stat(d.path); err == nil {
				same = os.SameFile(fi, other)
			}
		}
		if same {
			return nil, fmt.Errorf("%w: %s is open in this process already (close it first)", ErrLocked, dir)
		}
	}
	if openDirs.dirs == nil {
		openDirs.dirs = map[*openDir]struct{}{}
	}
	d := &openDir{path: abs}
	openDirs.dirs[d] = struct{}{}
	return d, nil
}

// release removes d from openDirs.
func (d *openDir) release() {
	openDirs.mu.Lock()
	defer openDirs.mu.Unlock()
	delete(openDirs.dirs, d)
}
