package ingest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// alive reports whether process pid runs: a zombie (exited, not yet
// reaped by an init that does not reap) counts as gone.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestEncoderDiesWithIngest: an ingest killed with SIGKILL takes its
// encoder processes with it. Before, oggenc ran on to its end, reparented
// to init, writing into a temporary directory the next ingest removes.
// The test runs the ingest in a child process (itself, with
// SEGUE_INGEST_CHILD set) whose encoder writes its pid and sleeps.
func TestEncoderDiesWithIngest(t *testing.T) {
	if dir := os.Getenv("SEGUE_INGEST_CHILD"); dir != "" {
		req, err := LoadFiles(fstest.MapFS{"a.wav": {Data: sineWAV(t, 44100, 44100, 2)}, "a.wav.json": {Data: []byte(`{"artists":["X"]}`)}}, "a.wav")
		if err != nil {
			t.Fatal(err)
		}
		cat, _ := newCatalog()
		opts := DefaultOptions().WithEncoders(filepath.Join(dir, "oggenc"), filepath.Join(dir, "no-ffmpeg")).WithParallel(1).WithTempDir(dir)
		_, err = Ingest(context.Background(), cat, testSigner, req, opts)
		t.Fatalf("ingest returned (%v) while its encoder sleeps", err)
	}
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "enc.pid")
	script := "#!/bin/sh\necho $$ > " + pidFile + ".tmp && mv " + pidFile + ".tmp " + pidFile + "\nexec sleep 600\n"
	if err := os.WriteFile(filepath.Join(dir, "oggenc"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^TestEncoderDiesWithIngest$", "-test.count=1")
	child.Env = append(os.Environ(), "SEGUE_INGEST_CHILD="+dir)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	var pid int
	for deadline := time.Now().Add(60 * time.Second); pid == 0; {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				t.Fatal(err)
			}
		} else if !errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
			t.Fatalf("encoder did not start: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	for deadline := time.Now().Add(30 * time.Second); alive(pid); {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("encoder %d still runs 30 s after its ingest was killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
