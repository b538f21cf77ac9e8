package ingest

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/segue-fm/segue/internal/testtool"
)

// rootedFS labels its files as the CLI's FS does: "/" + the FS name.
type rootedFS struct{ fstest.MapFS }

func (r rootedFS) Label(name string) string { return "/" + name }

// TestLabeler: with a Labeler FS, errors (those of opening the file
// too), progress reports and results name files by their labels, never
// by the FS's names.
func TestLabeler(t *testing.T) {
	good := sineWAV(t, 44100, 44100, 2)
	fsys := rootedFS{fstest.MapFS{
		"in/ok.wav":       {Data: good},
		"in/ok.wav.json":  {Data: []byte(`{"artists":["X"]}`)},
		"in/cut.wav":      {Data: good[:len(good)/2]},
		"in/bad.wav":      {Data: good},
		"in/bad.wav.json": {Data: []byte(`{"title":`)},
	}}
	for _, c := range []struct {
		file string
		want error
		says []string
	}{
		{"in/gone.wav", os.ErrNotExist, []string{"ingest /in/gone.wav: open /in/gone.wav:"}},
		{"in/cut.wav", ErrTruncated, []string{"ingest /in/cut.wav:"}},
		{"in/bad.wav", ErrBadMetadata, []string{"load sidecar of /in/bad.wav:", "/in/bad.wav.json:"}},
	} {
		req, err := LoadFiles(fsys, c.file)
		if err == nil {
			c, _ := newCatalog()
			_, err = Ingest(context.Background(), c, testSigner, req, DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg"))
		}
		if !errors.Is(err, c.want) {
			t.Fatalf("%s: %v, want %v", c.file, err, c.want)
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%s: %q lacks %q", c.file, err, s)
			}
		}
		if strings.Contains(strings.ReplaceAll(err.Error(), "/"+c.file, ""), c.file) {
			t.Errorf("%s: %q names the file unlabelled", c.file, err)
		}
	}
	testtool.Need(t, "oggenc")
	req, err := LoadFiles(fsys, "in/ok.wav")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var files []string
	c, _ := newCatalog()
	res, err := Ingest(context.Background(), c, testSigner, req, DefaultOptions().WithEncoders("oggenc", "no-such-ffmpeg").WithProgress(func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Track >= 0 {
			files = append(files, p.File)
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Tracks[0].File != "/in/ok.wav" || res.Tracks[0].Track.Title != "ok" {
		t.Errorf("result file %q, title %q; want /in/ok.wav, ok", res.Tracks[0].File, res.Tracks[0].Track.Title)
	}
	for _, f := range files {
		if f != "/in/ok.wav" {
			t.Fatalf("progress names %q, want /in/ok.wav", f)
		}
	}
	if len(files) == 0 {
		t.Fatal("no progress reported")
	}
}
