//go:build unix

package main

import (
	"bytes"
	"errors"
	"mime/multipart"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/fifotest"
	"github.com/segue-fm/segue/server/ingest"
)

// TestInputFIFORefused: an input named on the command line, or by an
// album.json, that is a FIFO is refused at once. Before, it was opened,
// which blocks until a writer opens it; the signal handler kept Ctrl-C
// from ending the process, so `segue ingest --data D fifo.wav` and
// `segue play --effect fifo.wasm` hung until SIGKILL.
func TestInputFIFORefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "m.wav")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	fifoJSON := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifoJSON, 0o600); err != nil {
		t.Fatal(err)
	}
	album := filepath.Join(dir, "album.json")
	if err := os.WriteFile(album, []byte(`{"album":"A","album_artists":["X"],"tracks":[{"file":"m.wav","title":"T","artists":["X"]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	ingestArgs := func(args ...string) func() error {
		return func() error {
			data := filepath.Join(t.TempDir(), "relay")
			return runIngest(t.Context(), append([]string{"--data", data, "--quiet"}, args...), &bytes.Buffer{}, &bytes.Buffer{})
		}
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want error
	}{
		{"ingest master", ingestArgs(fifo), errNotRegular},
		{"ingest --album", ingestArgs("--album", fifoJSON), ingest.ErrNotRegular},
		{"ingest --album listing a FIFO", ingestArgs("--album", album), ingest.ErrNotRegular},
		{"play --effect", func() error { _, err := readPlugin(fifo); return err }, errNotRegular},
		{"upload to a relay", func() error {
			var buf bytes.Buffer
			return writeUpload(multipart.NewWriter(&buf), album, dir, []string{"m.wav"})
		}, errNotRegular},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() { done <- tc.run() }()
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			case <-time.After(10 * time.Second):
				fifotest.Unblock(t, []string{fifo, fifoJSON}, done)
			}
		})
	}
}

// TestSecondSignalEnds: a command blocked where its context does not
// reach (here `segue decode` reading a FIFO whose writer writes nothing)
// ends at the second Ctrl-C. Before, the signal handler swallowed every
// SIGINT after the first, and only SIGKILL ended it.
func TestSecondSignalEnds(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.ogg")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "decode", fifo, filepath.Join(dir, "out.wav"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	ended := false
	defer func() {
		if !ended {
			cmd.Process.Kill()
			<-done
		}
	}()
	// Once the command has the FIFO open for reading (its signal handler
	// is installed by then), a writer can open it; the command then waits
	// in read for bytes this writer never sends.
	var w *os.File
	for w == nil {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		switch {
		case err == nil:
			w = f
		case !errors.Is(err, syscall.ENXIO):
			t.Fatal(err)
		}
		select {
		case err := <-done:
			ended = true
			t.Fatalf("ended before it was interrupted: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	defer w.Close()
	// Interrupt until it ends: the first signal only cancels the context.
	deadline := time.After(20 * time.Second)
	for n := 1; ; n++ {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case <-done:
			ended = true
			if n < 2 {
				t.Fatal("ended at the first Ctrl-C: the test no longer blocks it")
			}
			return
		case <-deadline:
			t.Fatalf("still running after %d Ctrl-C", n)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
