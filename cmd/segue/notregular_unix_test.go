//go:build unix

package main

import (
	"bytes"
	"errors"
	"mime/multipart"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

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
				unblockFIFOs(t, []string{fifo, fifoJSON}, done)
			}
		})
	}
}

// unblockFIFOs ends a test blocked opening one of fifos: it opens each for
// writing and closes it, again until done answers (each open by the code
// under test sees an empty file), and fails the test.
func unblockFIFOs(t *testing.T, fifos []string, done <-chan error) {
	t.Helper()
	for {
		for _, p := range fifos {
			if w, err := os.OpenFile(p, os.O_RDWR, 0); err == nil {
				w.Close()
			}
		}
		select {
		case err := <-done:
			t.Fatalf("blocked opening a FIFO (then: %v)", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
