package player_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// chainedStream returns the demo album's first track (high tier) with
// the Ogg Vorbis file second chained after it, as one chunk.
func chainedStream(t *testing.T, second []byte) *segment.Stream {
	t.Helper()
	first, err := demoalbum.FS.ReadFile(path.Join("data", "01.high.ogg"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := segment.Split(first, segment.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	b, err := segment.Split(second, segment.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	data := append(append([]byte(nil), first[len(a.Header):]...), second...)
	n := a.TotalSamples + b.TotalSamples
	return &segment.Stream{Header: a.Header, Chunks: []segment.Chunk{{Data: data, Samples: n}},
		Serial: a.Serial, SampleRate: a.SampleRate, Channels: a.Channels, NominalBitrate: a.NominalBitrate, TotalSamples: n}
}

// sineOgg encodes seconds of a 44.1 kHz sine in channels with oggenc.
func sineOgg(t *testing.T, channels int, seconds string) []byte {
	t.Helper()
	sox, enc := testtool.Need(t, "sox"), testtool.Need(t, "oggenc")
	dir := t.TempDir()
	wav, ogg := filepath.Join(dir, "sine.wav"), filepath.Join(dir, "sine.ogg")
	for _, c := range [][]string{
		{sox, "-n", "-r", "44100", "-c", fmt.Sprint(channels), "-b", "16", wav, "synth", seconds, "sine", "440", "vol", "0.5"},
		{enc, "-Q", "-o", ogg, wav},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c[0], err, out)
		}
	}
	b, err := os.ReadFile(ogg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A track whose stream chains a link of another rate or channel count
// after its first fails as unplayable, naming the link: it played the
// link's samples as if they had the manifest's format (a 16 kHz link 2.76
// times too fast, a mono link's samples as stereo frames). A chained link
// of the same format plays.
func TestChainedLinkFormat(t *testing.T) {
	demo := func(name string) []byte {
		b, err := demoalbum.FS.ReadFile(path.Join("data", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		second []byte
		err    string // "" plays
	}{
		{"same format", demo("02.high.ogg"), ""},
		{"rate change", demo("02.low.ogg"), "link 1 is 16000 Hz × 2, manifest says 44100 Hz × 2"},
		{"channel change", sineOgg(t, 1, "1"), "link 1 is 44100 Hz × 1, manifest says 44100 Hz × 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, ids := newMemSource(t)
			st := chainedStream(t, tc.second)
			src.streams["t1/high"] = st
			opts := player.DefaultOptions().WithTier(model.TierHigh)
			out, seen := playToWAV(t, src, opts, albumItems(ids[:1]), nil)
			var failed error
			for _, s := range seen {
				if s.Err != nil && !player.IsWarning(s.Err) {
					failed = s.Err
				}
			}
			if tc.err == "" {
				if failed != nil {
					t.Fatalf("failed: %v", failed)
				}
				if got := int64(len(out) / 2); got != st.TotalSamples {
					t.Fatalf("%d frames, want %d", got, st.TotalSamples)
				}
				return
			}
			if !errors.Is(failed, player.ErrUnplayable) || !strings.Contains(failed.Error(), tc.err) {
				t.Fatalf("error %v, want ErrUnplayable with %q (%d frames played)", failed, tc.err, len(out)/2)
			}
		})
	}
}

// A prefetched head that reaches a chained link of another channel count
// is refused: it was returned with the link's samples taken for the
// manifest's frames.
func TestDecodeHeadChainedLinkFormat(t *testing.T) {
	first := sineOgg(t, 2, "0.1")
	a, err := segment.Split(first, segment.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	second := sineOgg(t, 1, "1")
	b, err := segment.Split(second, segment.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	n := a.TotalSamples + b.TotalSamples
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: "t1", Tier: model.TierHigh, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: n, Header: model.BlobRef{Size: int64(len(a.Header))},
		Chunks: []model.Chunk{{Samples: n, Blob: model.BlobRef{Size: int64(len(first) - len(a.Header) + len(second))}}}}
	_, err = player.DecodeHead(context.Background(), m, bytes.NewReader(append(first, second...)), player.MaxHeadFrames, player.DefaultOptions())
	if want := "link 1 is 44100 Hz × 1, manifest says 44100 Hz × 2"; !errors.Is(err, player.ErrUnplayable) || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want ErrUnplayable with %q", err, want)
	}
}
