package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestPlayOutFullDisk: segue play --out on a file system that fills up
// exits 1 with the sink's write error (no space left on device) as its
// last line, and leaves no output or temporary file. It ended with
// "play: player closed", naming no cause. It needs to mount a small
// tmpfs (root); elsewhere it is skipped.
func TestPlayOutFullDisk(t *testing.T) {
	full := filepath.Join(t.TempDir(), "full")
	if err := os.Mkdir(full, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", full, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("mount a small tmpfs: %v (needs root)", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(full, 0); err != nil {
			t.Error(err)
		}
	})
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	dev := filepath.Join(t.TempDir(), "device")
	res := segue(t, "play", "track", string(r.Tracks[0]), "--tier", "low", "--out", filepath.Join(full, "out.wav"),
		"--data", dev, "--relay", r.URL, "--user", "ada", "--password", "a long enough secret", "--signup")
	lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
	if last := lines[len(lines)-1]; res.code != 1 || !strings.Contains(last, "no space left on device") {
		t.Fatalf("exit %d, last line %q; want 1 naming the write error\n%s", res.code, last, res.stderr)
	}
	noTempFiles(t, full)
}
