package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// errDemoDirInUse reports a -dir that another `segue demo` is working in.
var errDemoDirInUse = errors.New("in use by another segue demo")

// prepareDemoDir makes dir ready for a demo run and returns the entries
// of an earlier run it removed, and the marker file, open and locked
// (lockPending): the caller closes it when the run ends. dir is created
// when absent. When it holds an earlier demo (demoMarker) that demo's
// entries are removed: the relay's accounts, counts and devices would
// otherwise collide with the new run's. A directory holding any of
// demoEntries without the marker is refused with a usage error and left
// as it is: those files are not a demo's to remove. A directory whose
// marker another run holds locked is refused (errDemoDirInUse) and left
// as it is: removing that run's relay and devices under it broke both
// runs. Other files in dir are left alone either way.
func prepareDemoDir(dir string) (removed []string, lock *os.File, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("create working directory: %w", err)
	}
	marker := filepath.Join(dir, demoMarker)
	_, err = os.Lstat(marker)
	earlier := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("check working directory: %w", err)
	}
	var present []string
	for _, name := range demoEntries {
		if _, err := os.Lstat(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, nil, fmt.Errorf("check working directory: %w", err)
		}
		if !earlier {
			return nil, nil, fmt.Errorf("%w: -dir %s holds %s but no %s, so no earlier demo: choose an empty or new directory", errUsage, dir, name, demoMarker)
		}
		present = append(present, name)
	}
	lock, err = os.OpenFile(marker, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("mark working directory: %w", err)
	}
	if err := lockPending(lock); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("-dir %s: %w: wait for it to end or choose another directory", dir, errDemoDirInUse)
		}
		return nil, nil, fmt.Errorf("lock working directory: %w", err)
	}
	for _, name := range present {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			lock.Close()
			return removed, nil, fmt.Errorf("remove the earlier demo: %w", err)
		}
		removed = append(removed, name)
	}
	err = lock.Truncate(0)
	if err == nil {
		_, err = lock.WriteAt([]byte(demoMarkerText), 0)
	}
	if err != nil {
		lock.Close()
		return removed, nil, fmt.Errorf("mark working directory: %w", err)
	}
	return removed, lock, nil
}
