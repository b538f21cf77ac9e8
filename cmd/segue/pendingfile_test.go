//go:build unix

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPendingLeftovers: the temporary output files of commands killed
// while writing (kill -9: `segue play --out x.wav`, `segue decode`) were
// left beside the output for ever, each up to the whole output's size.
// The next createPending for that output removes the unlocked ones older
// than pendingGrace, and keeps a live writer's (locked) file, a fresh
// one, and other outputs' files.
func TestPendingLeftovers(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "x[1].wav")
	old := time.Now().Add(-2 * pendingGrace)
	mk := func(name string, age time.Time) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	killed := mk(".x[1].wav.111.tmp", old)
	fresh := mk(".x[1].wav.222.tmp", time.Now())
	other := mk(".y.wav.333.tmp", old)
	live, err := createPending(out)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Discard()
	if err := os.Chtimes(live.Name(), old, old); err != nil {
		t.Fatal(err)
	}
	next, err := createPending(out)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Discard()
	for p, want := range map[string]bool{killed: false, fresh: true, other: true, live.Name(): true, next.Name(): true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", filepath.Base(p), err == nil, want)
		}
	}
	if _, err := live.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	if err := live.Commit(); err != nil {
		t.Fatalf("commit of the live writer: %v", err)
	}
}

// TestPendingCommitSyncsDir: Commit renamed the temporary file into
// place without syncing the directory, so a crash could lose the rename
// (the path keeping its old contents, or none). It now syncs the path's
// directory after the rename; a failing sync is returned, with the
// complete new file in place and no temporary file left.
func TestPendingCommitSyncsDir(t *testing.T) {
	errSync := errors.New("sync failed")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"synced", nil},
		{"sync fails", errSync},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out.wav")
			if err := os.WriteFile(out, []byte("old"), 0o600); err != nil {
				t.Fatal(err)
			}
			var synced []string
			defer func(f func(string) error) { syncDir = f }(syncDir)
			syncDir = func(d string) error {
				synced = append(synced, d)
				return tc.err
			}
			p, err := createPending(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Write([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(); !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("commit: %v, want %v", err, tc.err)
			}
			p.Discard()
			if len(synced) != 1 || synced[0] != dir {
				t.Fatalf("directories synced: %q, want [%q]", synced, dir)
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != "new" {
				t.Fatalf("output %q (%v), want the new contents", b, err)
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".out.wav.*.tmp")); len(left) != 0 {
				t.Fatalf("temporary files left: %q", left)
			}
		})
	}
}

// TestPendingRefusesNonRegular: createPending accepted an empty path (the
// whole play or decode ran, then the rename failed: `write : rename
// ./...123.tmp : no such file or directory`) and a path naming a device
// or FIFO, which Commit's rename replaced with the output (run as root,
// `segue decode in.ogg /dev/full` left /dev/full a regular WAV file). Both
// are now refused before any work, nothing created, the path untouched.
func TestPendingRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       error
	}{
		{"empty", "", errUsage},
		{"fifo", fifo, errNotRegular},
		{"symlink to a fifo", link, errNotRegular},
		{"directory", sub, errIsDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := createPending(tc.path)
			if errors.Is(err, errNotRegular) && !strings.Contains(err.Error(), "(a FIFO)") {
				t.Errorf("error %q does not say the path is a FIFO", err)
			}
			if !errors.Is(err, tc.want) {
				if err == nil {
					p.Discard()
				}
				t.Fatalf("createPending(%q): %v, want %v", tc.path, err, tc.want)
			}
		})
	}
	if st, err := os.Stat(fifo); err != nil || st.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("the fifo is no longer one: %v, %v", st, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 {
		t.Errorf("directory holds %d entries, want the fifo, the link and sub: %v", len(ents), ents)
	}
}
