//go:build unix

package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/fifotest"
)

// TestIngestRefusesNotRegular: a master, a sidecar or an album.json that
// is a FIFO or a directory is refused with ErrNotRegular. Before, a FIFO
// was opened, which blocks until a writer opens it, whatever the context
// says: `segue ingest --data D fifo.wav` hung, Ctrl-C or not.
func TestIngestRefusesNotRegular(t *testing.T) {
	good := sineWAV(t, 44100, 4410, 2)
	tests := []struct {
		name  string
		files map[string]string // name → "fifo", "dir" or "wav"
		load  func(dir string) (Request, error)
	}{
		{"fifo master", map[string]string{"m.wav": "fifo"}, func(dir string) (Request, error) { return LoadFiles(os.DirFS(dir), "m.wav") }},
		{"directory master", map[string]string{"m.wav": "dir"}, func(dir string) (Request, error) { return LoadFiles(os.DirFS(dir), "m.wav") }},
		{"fifo sidecar", map[string]string{"m.wav": "wav", "m.wav.json": "fifo"}, func(dir string) (Request, error) { return LoadFiles(os.DirFS(dir), "m.wav") }},
		{"fifo album.json", map[string]string{"album.json": "fifo"}, func(dir string) (Request, error) { return LoadAlbum(os.DirFS(dir), "album.json") }},
		{"fifo file of an album", map[string]string{"m.wav": "fifo", "album.json": "album"}, func(dir string) (Request, error) { return LoadAlbum(os.DirFS(dir), "album.json") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var fifos []string
			for name, kind := range tc.files {
				p := filepath.Join(dir, name)
				var err error
				switch kind {
				case "fifo":
					err = syscall.Mkfifo(p, 0o600)
					fifos = append(fifos, p)
				case "dir":
					err = os.Mkdir(p, 0o700)
				case "wav":
					err = os.WriteFile(p, good, 0o600)
				case "album":
					err = os.WriteFile(p, []byte(`{"album":"A","album_artists":["X"],"tracks":[{"file":"m.wav","title":"T","artists":["X"]}]}`), 0o600)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() {
				req, err := tc.load(dir)
				if err == nil {
					c, _ := newCatalog()
					_, err = Ingest(context.Background(), c, testSigner, req, DefaultOptions())
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				fifotest.Unblock(t, fifos, done)
			}
			if !errors.Is(err, ErrNotRegular) {
				t.Fatalf("got %v, want ErrNotRegular", err)
			}
		})
	}
}
