package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// demoMarker is the file `segue demo` writes first in its working
// directory. A later `segue demo -dir` on that directory starts afresh:
// it removes the earlier run's entries (demoEntries), and only in a
// directory holding the marker.
const demoMarker = "segue-demo.txt"

// demoEntries are the names `segue demo` creates in its working
// directory besides demoMarker (TestDemo checks the list is complete).
var demoEntries = []string{"relay", "device-1", "device-2", "device-3", "demo-album.wav"}

// demoMarkerText is demoMarker's content.
var demoMarkerText = "This directory holds a run of `segue demo`. Running `segue demo -dir` on it again\n" +
	"removes that run's data (" + strings.Join(demoEntries, ", ") + ") and starts afresh.\n"

// prepareDemoDir makes dir ready for a demo run and returns the entries
// of an earlier run it removed. dir is created when absent. When it holds
// an earlier demo (demoMarker) that demo's entries are removed: the
// relay's accounts, counts and devices would otherwise collide with the
// new run's. A directory holding any of demoEntries without the marker
// is refused with a usage error and left as it is: those files are not a
// demo's to remove. Other files in dir are left alone either way.
func prepareDemoDir(dir string) (removed []string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create working directory: %w", err)
	}
	marker := filepath.Join(dir, demoMarker)
	_, err = os.Lstat(marker)
	earlier := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("check working directory: %w", err)
	}
	for _, name := range demoEntries {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return removed, fmt.Errorf("check working directory: %w", err)
		}
		if !earlier {
			return nil, fmt.Errorf("%w: -dir %s holds %s but no %s, so no earlier demo: choose an empty or new directory", errUsage, dir, name, demoMarker)
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("remove the earlier demo: %w", err)
		}
		removed = append(removed, name)
	}
	if err := os.WriteFile(marker, []byte(demoMarkerText), 0o600); err != nil {
		return removed, fmt.Errorf("mark working directory: %w", err)
	}
	return removed, nil
}
