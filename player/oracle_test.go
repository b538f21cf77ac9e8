package player_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// oggSource serves segmented Ogg Vorbis streams by track id.
type oggSource struct {
	streams map[model.TrackID]*segment.Stream
}

func (s *oggSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	st := s.streams[id]
	if st == nil {
		return nil, fmt.Errorf("%w: %s", player.ErrUnplayable, id)
	}
	return newExampleTrack(id, tier, st), nil
}

// cutAlbum cuts one continuous stereo signal (two sweeps, sox) into
// tracks of the given frames, encodes each with oggenc and returns them
// as an album with oggdec's decode of each, concatenated (16-bit).
func cutAlbum(t *testing.T, cuts []int) (*oggSource, []player.Item, []float32) {
	t.Helper()
	sox, oggenc, oggdec := testtool.Need(t, "sox"), testtool.Need(t, "oggenc"), testtool.Need(t, "oggdec")
	dir := t.TempDir()
	total := 0
	for _, n := range cuts {
		total += n
	}
	whole := filepath.Join(dir, "whole.wav")
	run := func(name string, args ...string) {
		if b, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v %s", name, err, b)
		}
	}
	run(sox, "-r", "44100", "-c", "2", "-n", "-b", "16", whole, "synth", fmt.Sprintf("%ds", total), "sine", "100-6000", "sine", "300-200", "gain", "-8")
	src := &oggSource{streams: map[model.TrackID]*segment.Stream{}}
	var items []player.Item
	var oracle []float32
	at := 0
	for i, n := range cuts {
		w, o, r := filepath.Join(dir, fmt.Sprint(i, ".wav")), filepath.Join(dir, fmt.Sprint(i, ".ogg")), filepath.Join(dir, fmt.Sprint(i, ".raw"))
		run(sox, whole, w, "trim", fmt.Sprintf("%ds", at), fmt.Sprintf("%ds", n))
		at += n
		run(oggenc, "-Q", "-q", "6", "-o", o, w)
		run(oggdec, "-Q", "-R", "-o", r, o)
		raw, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		for k := 0; k+1 < len(raw); k += 2 {
			oracle = append(oracle, float32(int16(binary.LittleEndian.Uint16(raw[k:])))/32768)
		}
		data, err := os.ReadFile(o)
		if err != nil {
			t.Fatal(err)
		}
		st, err := segment.Split(data, segment.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		if st.TotalSamples != int64(n) || len(raw) != 4*n {
			t.Fatalf("track %d: oggenc wrote %d frames, oggdec decoded %d, want %d", i, st.TotalSamples, len(raw)/4, n)
		}
		id := model.TrackID(fmt.Sprint("cut", i))
		src.streams[id] = st
		items = append(items, player.Item{Track: id, Album: "one"})
	}
	return src, items, oracle
}

// An album cut from one continuous signal plays gaplessly, sample for
// sample: at the tracks' rate the output is oggdec's decode of the
// tracks concatenated (within its 16-bit rounding, ½ LSB), and at another
// output rate it is that concatenation through one Resampler (within 1
// LSB), of exactly its length: no track boundary restarts or flushes the
// resampler. Before, a gapless track shorter than about 4 blocks at
// another rate flushed the resampler at its end before the next track
// joined (the output left the concatenation's there, by up to 1.7 LSB on
// these quiet sweeps, and was a frame too long per such boundary),
// because the next track was preloaded only at 75 % of it and the player
// asked a whole block of the next track before mixing the last block of
// the current one.
//
// Tracks shorter than the resampler's reach (32 frames at 44.1 →
// 48 kHz) at another rate still end the chain: see
// TestGaplessShortTrackEndsChain.
func TestGaplessMatchesOggdec(t *testing.T) {
	tests := []struct {
		cuts  []int
		rates []int
	}{
		{[]int{1, 700, 4096, 1, 33000, 2047, 1, 20000}, []int{44100}},
		{[]int{700, 30000}, []int{48000, 32000, 96000}},
		{[]int{300, 700, 2047, 4096, 1023, 20000}, []int{44100, 48000, 32000, 96000}},
		{[]int{64, 20000, 1000, 30000}, []int{48000, 22050}},
	}
	for _, tc := range tests {
		src, items, oracle := cutAlbum(t, tc.cuts)
		for _, rate := range tc.rates {
			t.Run(fmt.Sprint(tc.cuts, rate), func(t *testing.T) {
				want, tol := oracle, 0.5
				if rate != 44100 {
					r, err := player.NewResampler(44100, rate, 2)
					if err != nil {
						t.Fatal(err)
					}
					want, _ = r.Write(nil, oracle)
					want, tol = r.Flush(want), 1
				}
				sink := &recSink{rate: rate, ch: 2}
				p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).
					WithGain(player.DefaultGainOptions().WithMode(player.GainOff)).WithLogger(slog.New(slog.DiscardHandler)))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				sub, cancel := p.Subscribe()
				defer cancel()
				playToEnd(t, p, sub, items, func(st player.Status) {
					if st.Err != nil {
						t.Errorf("status: %v", st.Err)
					}
				})
				sink.mu.Lock()
				got := sink.frames
				sink.mu.Unlock()
				if len(got) != len(want) {
					t.Errorf("%d frames, want %d", len(got)/2, len(want)/2)
				}
				for i := range min(len(got), len(want)) {
					if d := math.Abs(float64(got[i]-want[i])) * 32768; d > tol+0.01 {
						t.Fatalf("frame %d: %v, want %v (%.1f LSB off)", i/2, got[i], want[i], d)
					}
				}
			})
		}
	}
}

// At another output rate a gapless track shorter than the resampler's
// reach ends its chain, and this is the whole of the departure from the
// one-resampler concatenation, checked against oggdec: the chain ends
// after a track when the input up to its end does not yet give the last
// output frame of the track before it (Resampler.Needs: the chain would
// need the track after the next, which is asked for only once the next
// one plays). The output is then the resampler flushed after that track
// (as if silence followed it) and the tracks after it on a fresh chain,
// as if played from there: each run of tracks through one Resampler,
// within 1 LSB, at most one frame longer per such track. At the tracks'
// rate nothing is resampled and the concatenation is exact.
func TestGaplessShortTrackEndsChain(t *testing.T) {
	tests := []struct {
		cuts []int
		rate int
		runs int // how many chains the rule gives, to keep the cases honest
	}{
		{[]int{2000, 1, 20000}, 48000, 2},
		{[]int{1000, 5, 1, 20000}, 48000, 2},
		{[]int{2000, 29, 31, 20000}, 48000, 2},
		{[]int{2000, 3, 3000, 2, 20000}, 22050, 3},
		{[]int{2000, 31, 20000}, 48000, 2}, // 2000 then 32 frames give its last output frame
		{[]int{2000, 32, 20000}, 48000, 1},
		{[]int{2000, 40, 20000}, 96000, 1},
		{[]int{2000, 1, 20000}, 44100, 1},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.cuts, tc.rate), func(t *testing.T) {
			src, items, oracle := cutAlbum(t, tc.cuts)
			r, err := player.NewResampler(44100, tc.rate, 2)
			if err != nil {
				t.Fatal(err)
			}
			// Split the tracks into chains by the rule, and resample each.
			var want []float32
			runs, start, in := 0, 0, int64(0) // first frame of the run, its input so far
			for i, n := range tc.cuts {
				before := in
				in += int64(n)
				last := i == len(tc.cuts)-1
				if !last && !(i > 0 && before > 0 && tc.rate != 44100 && r.Needs(r.OutFrames(before)) > in) {
					continue
				}
				rr, _ := player.NewResampler(44100, tc.rate, 2)
				end := start + int(in)
				out, _ := rr.Write(nil, oracle[2*start:2*end])
				want = append(want, rr.Flush(out)...)
				runs++
				start, in = end, 0
			}
			if runs != tc.runs {
				t.Fatalf("%d chains by the rule, the case says %d", runs, tc.runs)
			}
			sink := &recSink{rate: tc.rate, ch: 2}
			p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).
				WithGain(player.DefaultGainOptions().WithMode(player.GainOff)).WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			playToEnd(t, p, sub, items, func(st player.Status) {
				if st.Err != nil {
					t.Errorf("status: %v", st.Err)
				}
			})
			sink.mu.Lock()
			got := sink.frames
			sink.mu.Unlock()
			if len(got) != len(want) {
				t.Fatalf("%d frames, want %d", len(got)/2, len(want)/2)
			}
			tol := 1.0
			if tc.rate == 44100 {
				tol = 0.5
			}
			for i := range got {
				if d := math.Abs(float64(got[i]-want[i])) * 32768; d > tol+0.01 {
					t.Fatalf("frame %d: %v, want %v (%.1f LSB off)", i/2, got[i], want[i], d)
				}
			}
		})
	}
}
