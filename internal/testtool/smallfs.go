package testtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SmallFS mounts a new ext4 file system of sizeMiB MiB, with no blocks
// reserved for root (so a test fills it the same way as root or not), on
// a directory under tb's temporary directory and returns that directory;
// the test's cleanup unmounts it. It needs root, mkfs.ext4 and loop
// devices: without them the test fails under CI and is skipped elsewhere.
func SmallFS(tb testing.TB, sizeMiB int) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		msg := "test mounts a small file system and needs root"
		if InCI() {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	mkfs := Need(tb, "mkfs.ext4")
	dir := tb.TempDir()
	img := filepath.Join(dir, "fs.img")
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		tb.Fatal(err)
	}
	run := func(name string, args ...string) error {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
		}
		return nil
	}
	if err := run("truncate", "-s", fmt.Sprintf("%dM", sizeMiB), img); err != nil {
		tb.Fatal(err)
	}
	if err := run(mkfs, "-q", "-m", "0", img); err != nil {
		tb.Fatal(err)
	}
	if err := run("mount", "-o", "loop", img, mnt); err != nil {
		if InCI() {
			tb.Fatal(err)
		}
		tb.Skip(err)
	}
	tb.Cleanup(func() {
		if err := run("umount", mnt); err != nil {
			tb.Error(err)
		}
	})
	return mnt
}

// Fill writes zeros to a new file in dir until the file system is full
// and returns the file's path; removing it gives the space back.
func Fill(tb testing.TB, dir string) string {
	tb.Helper()
	f, err := os.CreateTemp(dir, "fill-*")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for n := len(buf); n > 0; n /= 2 {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	if err := f.Sync(); err != nil {
		tb.Logf("sync %s: %v", f.Name(), err)
	}
	return f.Name()
}
