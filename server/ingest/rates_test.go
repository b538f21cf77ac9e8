package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/segue-fm/segue/internal/testtool"
)

// TestIngestRatesPlayersResample: a master or pre-encoded tier whose rate
// the player cannot resample to 44.1 or 48 kHz is refused, naming the
// rate. A 44056 Hz master ingested without a word and then every tier
// but the low one failed in every player ("ratio 11025/11014 needs too
// many phases"); a 16001 Hz master failed ingest with that message. An
// unusual rate the player resamples (37800 Hz) ingests.
func TestIngestRatesPlayersResample(t *testing.T) {
	enc := testtool.Need(t, "oggenc")
	tier := func(rate int) []byte {
		dir := t.TempDir()
		wav, ogg := filepath.Join(dir, "t.wav"), filepath.Join(dir, "t.ogg")
		if err := os.WriteFile(wav, sineWAV(t, rate, rate, 2), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(enc, "-Q", "-o", ogg, wav).CombinedOutput(); err != nil {
			t.Fatalf("oggenc: %v\n%s", err, out)
		}
		b, err := os.ReadFile(ogg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	pre := func(rate int) fstest.MapFS {
		side := fmt.Sprintf(`{"album":"A","album_artists":["X"],"tracks":[{"title":"T","artists":["X"],"sample_rate":%d,"channels":2,"samples":%d,"loudness":{"integrated_lufs":-14,"true_peak_dbtp":-1},"tiers":{"high":"t.ogg"}}]}`, rate, rate)
		return fstest.MapFS{"album.json": {Data: []byte(side)}, "t.ogg": {Data: tier(rate)}}
	}
	tests := []struct {
		name   string
		fsys   fstest.MapFS
		album  bool
		want   error
		naming string
	}{
		{"master at 44056 Hz", fstest.MapFS{"m.wav": {Data: sineWAV(t, 44056, 44056, 2)}}, false, ErrUnsupportedFormat, "sample rate 44056 Hz"},
		{"master at 16001 Hz", fstest.MapFS{"m.wav": {Data: sineWAV(t, 16001, 16001, 2)}}, false, ErrUnsupportedFormat, "sample rate 16001 Hz"},
		{"master at 37800 Hz", fstest.MapFS{"m.wav": {Data: sineWAV(t, 37800, 37800, 2)}}, false, nil, ""},
		{"tier at 44056 Hz", pre(44056), true, ErrUnsupportedFormat, "t.ogg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := newCatalog()
			var req Request
			var err error
			if tc.album {
				req, err = LoadAlbum(tc.fsys, "album.json")
			} else {
				req, err = LoadFiles(tc.fsys, "m.wav")
			}
			if err != nil {
				t.Fatal(err)
			}
			for i := range req.Tracks {
				req.Tracks[i].Artists = []string{"X"}
			}
			_, err = Ingest(context.Background(), c, testSigner, req, DefaultOptions())
			if !errors.Is(err, tc.want) || tc.want != nil && !strings.Contains(err.Error(), tc.naming) {
				t.Fatalf("err = %v, want %v naming %q", err, tc.want, tc.naming)
			}
		})
	}
}
