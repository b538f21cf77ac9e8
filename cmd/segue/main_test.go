package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain points $XDG_STATE_HOME, where device commands keep each
// device's trusted-time mark (clockMarkFileFor), at a directory of the
// test run's, for this process and the segue processes it starts, so the
// tests write nothing under the user's home.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "segue-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
