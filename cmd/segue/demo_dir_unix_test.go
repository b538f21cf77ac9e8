//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestPrepareDemoDirInUse: a second `segue demo -dir DIR` started while
// a first ran in DIR removed the first run's relay and devices under it
// (the first logged Badger errors, the second failed on a device store
// in use). While a run holds DIR's marker, another is now refused
// (errDemoDirInUse) and DIR is left as it is; once the first run ends
// the next starts afresh.
func TestPrepareDemoDirInUse(t *testing.T) {
	dir := t.TempDir()
	_, first, err := prepareDemoDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	relayFile := filepath.Join(dir, "relay", "KEYREGISTRY")
	if err := os.MkdirAll(filepath.Dir(relayFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(relayFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, second, err := prepareDemoDir(dir)
	if !errors.Is(err, errDemoDirInUse) {
		if second != nil {
			second.Close()
		}
		t.Fatalf("second run: err %v, removed %q; want %v", err, removed, errDemoDirInUse)
	}
	if _, err := os.Stat(relayFile); err != nil {
		t.Errorf("the first run's relay: %v", err)
	}
	first.Close()
	removed, third, err := prepareDemoDir(dir)
	if err != nil {
		t.Fatalf("after the first run ended: %v", err)
	}
	defer third.Close()
	if !slices.Equal(removed, []string{"relay"}) {
		t.Errorf("removed %q, want the earlier run's relay", removed)
	}
}
