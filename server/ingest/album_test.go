package ingest

import (
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/wav"
)

// albumCuts are the track boundaries of a 6 s piece at 44.1 kHz; no cut
// is a multiple of 441 (the 44100/16000 ratio's numerator), so every
// track but the first starts between two 16 kHz samples.
var albumCuts = []int64{0, 66_161, 132_299, 198_407, 264_600}

// albumPiece synthesises a continuous stereo piece of n frames: sines
// that glide across the cuts, so a gap, overlap or shift is visible.
func albumPiece(n int) []float32 {
	out := make([]float32, 2*n)
	for i := range n {
		x := float64(i) / 44100
		l := 0.3*math.Sin(2*math.Pi*(300*x+40*x*x)) + 0.2*math.Sin(2*math.Pi*3100*x)
		r := 0.3*math.Sin(2*math.Pi*(520*x+25*x*x)) + 0.2*math.Sin(2*math.Pi*6100*x)
		out[2*i], out[2*i+1] = float32(l), float32(r)
	}
	return out
}

// albumMasters returns the piece cut at albumCuts as four float WAV files
// and their album.json.
func albumMasters(t testing.TB) (fstest.MapFS, []float32) {
	t.Helper()
	piece := albumPiece(int(albumCuts[4]))
	fsys := fstest.MapFS{}
	album := `{"album":"Glide","album_artists":["Tester"],"tracks":[`
	for i := range 4 {
		var b wavBuffer
		if err := demoalbum.WriteWAV(&b, piece[2*albumCuts[i]:2*albumCuts[i+1]], 44100, 2); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%02d.wav", i+1)
		fsys[name] = &fstest.MapFile{Data: b}
		if i > 0 {
			album += ","
		}
		album += fmt.Sprintf(`{"file":%q,"title":"Part %d","artists":["Tester"]}`, name, i+1)
	}
	fsys["album.json"] = &fstest.MapFile{Data: []byte(album + "]}")}
	return fsys, piece
}

type wavBuffer []byte

func (b *wavBuffer) Write(p []byte) (int, error) { *b = append(*b, p...); return len(p), nil }

// resampleOnce resamples interleaved stereo in one pass.
func resampleOnce(t testing.TB, pcm []float32, from, to int) []float32 {
	t.Helper()
	r, err := player.NewResampler(from, to, 2)
	if err != nil {
		t.Fatal(err)
	}
	var out []float32
	for off := 0; off < len(pcm); off += 2 * 4096 {
		if out, err = r.Write(out, pcm[off:min(len(pcm), off+2*4096)]); err != nil {
			t.Fatal(err)
		}
	}
	return r.Flush(out)
}

func TestResampleRunIsTheAlbumResampledOnce(t *testing.T) {
	ctx := context.Background()
	fsys, piece := albumMasters(t)
	req, err := LoadAlbum(fsys, "album.json")
	if err != nil {
		t.Fatal(err)
	}
	in := &ingester{req: req, tmp: t.TempDir()}
	var ps []*probed
	for i, tr := range req.Tracks {
		sha, size, err := hashFile(ctx, fsys, tr.Master)
		if err != nil {
			t.Fatal(err)
		}
		m, err := decodeMaster(ctx, fsys, tr.Master, size, sha, in.tmp)
		if err != nil {
			t.Fatal(err)
		}
		tr.SampleRate, tr.Channels, tr.Samples = m.rate, m.channels, m.frames
		applyDefaults(&tr)
		ps = append(ps, &probed{i: i, t: tr, m: m, id: model.TrackID(fmt.Sprint("t", i))})
	}
	runs := placeRuns(ps)
	if len(runs) != 1 || len(runs[0]) != 4 {
		t.Fatalf("runs %v, want one run of 4", runs)
	}
	if got := resampleRates(runs[0]); !slices.Equal(got, []int{16000}) {
		t.Fatalf("rates %v, want [16000]", got)
	}
	if err := in.resampleRun(ctx, runs[0], 16000); err != nil {
		t.Fatal(err)
	}
	once := resampleOnce(t, piece, 44100, 16000)
	if len(once)/2 != 96000 {
		t.Fatalf("piece resamples to %d frames, want 96000", len(once)/2)
	}
	var joined []float32
	var alone int64
	for i, p := range ps {
		if p.runOffset != albumCuts[i] || (i > 0) != (p.follows == ps[max(i-1, 0)].id) {
			t.Fatalf("track %d placed at %d following %q", i+1, p.runOffset, p.follows)
		}
		b, err := os.ReadFile(p.resampled[16000])
		if err != nil {
			t.Fatal(err)
		}
		a, err := wav.Read(b)
		if err != nil {
			t.Fatal(err)
		}
		first, n := model.ResampledSpan(albumCuts[i], albumCuts[i+1]-albumCuts[i], 44100, 16000)
		if int64(a.Frames()) != n || int64(len(joined)/2) != first {
			t.Fatalf("track %d: %d frames at %d, want %d at %d", i+1, a.Frames(), len(joined)/2, n, first)
		}
		joined = append(joined, a.Samples...)
		alone += expectedSamples(albumCuts[i+1]-albumCuts[i], 44100, 16000)
	}
	// Bit-exact: the cuts carry the resampler's state and phase.
	if !slices.Equal(joined, once) {
		t.Fatal("the tracks' 16 kHz samples joined differ from the album resampled once")
	}
	if alone == int64(len(once)/2) {
		t.Fatal("test cuts fall on the ratio: resampling each track alone would give the same length")
	}
}

func TestPlaceRuns(t *testing.T) {
	tr := func(album string, disc, num, rate int, withMaster bool) *probed {
		p := &probed{t: TrackRequest{Album: album, AlbumArtists: []string{"X"}, DiscNumber: disc, TrackNumber: num,
			SampleRate: rate, Channels: 2, Samples: 1000}}
		if withMaster {
			p.m = &master{}
		}
		return p
	}
	tests := []struct {
		name   string
		tracks []*probed
		want   []int // run length of each run, in play order of the sorted tracks
	}{
		{"album in order", []*probed{tr("A", 1, 1, 44100, true), tr("A", 1, 2, 44100, true), tr("A", 1, 3, 44100, true)}, []int{3}},
		{"request out of order", []*probed{tr("A", 1, 3, 44100, true), tr("A", 1, 1, 44100, true), tr("A", 1, 2, 44100, true)}, []int{3}},
		{"missing track", []*probed{tr("A", 1, 1, 44100, true), tr("A", 1, 3, 44100, true)}, []int{1, 1}},
		{"next disc", []*probed{tr("A", 1, 7, 44100, true), tr("A", 2, 1, 44100, true)}, []int{2}},
		{"other album", []*probed{tr("A", 1, 1, 44100, true), tr("B", 1, 2, 44100, true)}, []int{1, 1}},
		{"rate change", []*probed{tr("A", 1, 1, 44100, true), tr("A", 1, 2, 48000, true)}, []int{1, 1}},
		{"master and pre-encoded", []*probed{tr("A", 1, 1, 44100, true), tr("A", 1, 2, 44100, false)}, []int{1, 1}},
		{"no numbers", []*probed{tr("A", 1, 0, 44100, true), tr("A", 1, 0, 44100, true)}, []int{1, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i, p := range tc.tracks {
				p.i, p.id = i, model.TrackID(fmt.Sprint("t", i))
			}
			var got []int
			for _, run := range placeRuns(tc.tracks) {
				got = append(got, len(run))
				for j, p := range run {
					if p.runOffset != int64(j)*1000 || (j == 0) != (p.follows == "") || j > 0 && p.follows != run[j-1].id {
						t.Fatalf("run member %d: offset %d follows %q", j, p.runOffset, p.follows)
					}
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("runs %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIngestAlbumResampledTiersCarryTheirPhase(t *testing.T) {
	testtool.Need(t, "oggenc")
	ctx := context.Background()
	fsys, _ := albumMasters(t)
	req, err := LoadAlbum(fsys, "album.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCatalog()
	res, err := Ingest(ctx, c, testSigner, req, DefaultOptions().WithEncoders("oggenc", "no-such-ffmpeg"))
	if err != nil {
		t.Fatal(err)
	}
	var lowTotal int64
	for i, tr := range res.Tracks {
		n := albumCuts[i+1] - albumCuts[i]
		for _, tier := range model.Tiers {
			m, hdr, chunks := stream(t, c, tr.ID, tier)
			if tier != model.TierLow {
				if m.TotalSamples != n || m.Timing != nil {
					t.Fatalf("track %d tier %s: %d samples, timing %+v; want %d, none", i+1, tier, m.TotalSamples, m.Timing, n)
				}
				continue
			}
			want := model.Timing{SourceRate: 44100, RunOffset: albumCuts[i], SourceSamples: n}
			if i > 0 {
				want.Follows = res.Tracks[i-1].ID
			}
			if m.Timing == nil || *m.Timing != want {
				t.Fatalf("track %d low timing %+v, want %+v", i+1, m.Timing, want)
			}
			if _, span := model.ResampledSpan(albumCuts[i], n, 44100, 16000); m.TotalSamples != span {
				t.Fatalf("track %d low tier: %d samples, want its span %d", i+1, m.TotalSamples, span)
			}
			whole := hdr
			for ci, ch := range chunks {
				whole = append(whole, ch[m.Chunks[ci].PrimerSize:]...)
			}
			if got := oggdecSamples(t, whole, 2); got != m.TotalSamples {
				t.Fatalf("track %d low tier decodes to %d samples, manifest says %d", i+1, got, m.TotalSamples)
			}
			lowTotal += m.TotalSamples
		}
	}
	// The album's 16 kHz length is the piece's, not the sum of the tracks
	// resampled one by one and rounded up.
	if lowTotal != 96000 {
		t.Fatalf("low tier holds %d samples, the piece at 16 kHz has 96000", lowTotal)
	}
}

// A 96 kHz album: every tier is resampled (48 kHz, low 16 kHz), each from
// the run resampled once, and every manifest carries its timing.
func TestIngestHighRateAlbumEveryTierTimed(t *testing.T) {
	testtool.Need(t, "oggenc")
	const rate = 96000
	cuts := []int64{0, 48_001, 96_000 + 777}
	fsys := fstest.MapFS{}
	album := `{"album":"Hi-res","album_artists":["Tester"],"tracks":[`
	for i := range 2 {
		n := int(cuts[i+1] - cuts[i])
		pcm := make([]float32, n)
		for j := range pcm {
			pcm[j] = float32(0.3 * math.Sin(2*math.Pi*440*float64(int(cuts[i])+j)/rate))
		}
		var b wavBuffer
		if err := demoalbum.WriteWAV(&b, pcm, rate, 1); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%02d.wav", i+1)
		fsys[name] = &fstest.MapFile{Data: b}
		album += fmt.Sprintf(`%s{"file":%q,"title":"Part %d","artists":["Tester"]}`, map[bool]string{true: ",", false: ""}[i > 0], name, i+1)
	}
	fsys["album.json"] = &fstest.MapFile{Data: []byte(album + "]}")}
	req, err := LoadAlbum(fsys, "album.json")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCatalog()
	res, err := Ingest(context.Background(), c, testSigner, req, DefaultOptions().WithEncoders("oggenc", "no-such-ffmpeg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tier := range model.Tiers {
		var total int64
		r := tierRate(tier, rate)
		for i, tr := range res.Tracks {
			m, _, _ := stream(t, c, tr.ID, tier)
			want := model.Timing{SourceRate: rate, RunOffset: cuts[i], SourceSamples: cuts[i+1] - cuts[i]}
			if i > 0 {
				want.Follows = res.Tracks[0].ID
			}
			if m.SampleRate != r || m.Timing == nil || *m.Timing != want {
				t.Fatalf("track %d tier %s: %d Hz, timing %+v; want %d Hz, %+v", i+1, tier, m.SampleRate, m.Timing, r, want)
			}
			total += m.TotalSamples
		}
		if _, whole := model.ResampledSpan(0, cuts[2], rate, r); total != whole {
			t.Fatalf("tier %s: %d samples in all, the album resampled once has %d", tier, total, whole)
		}
	}
}
