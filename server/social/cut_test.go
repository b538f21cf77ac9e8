package social

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player/ogg"
	"github.com/segue-fm/segue/player/vorbis"
)

// decodeAll decodes an Ogg Vorbis stream to interleaved samples.
func decodeAll(t *testing.T, b []byte) []float32 {
	t.Helper()
	sr := vorbis.NewStreamReader(bytes.NewReader(b), vorbis.DefaultOptions())
	var out []float32
	for {
		pcm, err := sr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		out = vorbis.Interleave(out, pcm)
	}
}

// TestCutPreview cuts demo streams (44.1 kHz and the 16 kHz low tier) at
// several limits: header ‖ audio decodes to exactly min(limit, length)
// frames, equal sample for sample to the start of the whole stream, and
// the audio ends with an end-of-stream page.
func TestCutPreview(t *testing.T) {
	for _, name := range []string{"data/01.normal.ogg", "data/02.low.ogg", "data/04.high.ogg"} {
		b, err := demoalbum.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		full := decodeAll(t, b)
		total := int64(len(full) / 2)
		for _, limit := range []int64{1, 1000, 44100, 5 * 16000, total - 1, total, total + 5000} {
			h, a, frames, err := cutPreview(b, limit)
			if err != nil {
				t.Fatalf("%s limit %d: %v", name, limit, err)
			}
			if want := min(limit, total); frames != want {
				t.Fatalf("%s limit %d: %d frames, want %d", name, limit, frames, want)
			}
			got := decodeAll(t, append(bytes.Clone(h), a...))
			if int64(len(got)/2) != frames {
				t.Fatalf("%s limit %d: decodes to %d frames, want %d", name, limit, len(got)/2, frames)
			}
			if !slices.Equal(got, full[:len(got)]) {
				t.Fatalf("%s limit %d: samples differ from the whole stream's", name, limit)
			}
			if int64(len(a)) > int64(len(b)) {
				t.Fatalf("%s limit %d: cut is longer than the stream", name, limit)
			}
			var last ogg.Page
			for off := 0; off < len(a); {
				p, n, err := ogg.ParsePage(a[off:])
				if err != nil {
					t.Fatalf("%s limit %d: page at %d: %v", name, limit, off, err)
				}
				last, off = p, off+n
			}
			if !last.EOS() {
				t.Fatalf("%s limit %d: last page is not end-of-stream", name, limit)
			}
		}
	}
}

// TestCutPreviewRejects: a stream too short for the limit (not ended),
// garbage, and a zero limit are errors, never a panic.
func TestCutPreviewRejects(t *testing.T) {
	b, err := demoalbum.FS.ReadFile("data/01.low.ogg")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		b     []byte
		limit int64
	}{
		"zero limit":  {b, 0},
		"garbage":     {[]byte("not an ogg stream at all, but long enough to parse a header from"), 100},
		"empty":       {nil, 100},
		"cut short":   {b[:len(b)/2], 1 << 30},
		"header only": {b[:200], 100},
	} {
		if _, _, _, err := cutPreview(tc.b, tc.limit); !errors.Is(err, errCut) {
			t.Errorf("%s: %v, want errCut", name, err)
		}
	}
}
