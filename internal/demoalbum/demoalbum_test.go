package demoalbum

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

func TestAlbumMatchesSynthesis(t *testing.T) {
	m, err := Album()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tracks) != 4 {
		t.Fatalf("%d tracks, want 4", len(m.Tracks))
	}
	wantStart := []int64{0, Cuts[0], Cuts[1], Cuts[2]}
	var sum int64
	for i, tr := range m.Tracks {
		if tr.CutOffset != wantStart[i] {
			t.Errorf("track %d cut offset %d, want %d", i+1, tr.CutOffset, wantStart[i])
		}
		for _, block := range []int64{64, 128, 256, 1024, 2048} {
			if tr.CutOffset != 0 && tr.CutOffset%block == 0 {
				t.Errorf("track %d starts on a multiple of %d", i+1, block)
			}
		}
		// The low tier's gapless test needs cuts between two 16 kHz
		// samples: not multiples of the 44100/16000 ratio.
		if tr.CutOffset != 0 && tr.CutOffset*16000%Rate == 0 {
			t.Errorf("track %d starts on a 16 kHz sample", i+1)
		}
		if tr.SampleRate != Rate || tr.Channels != Channels || tr.TrackNumber != i+1 {
			t.Errorf("track %d: rate %d channels %d number %d", i+1, tr.SampleRate, tr.Channels, tr.TrackNumber)
		}
		if tr.Loudness.IntegratedLUFS > -8 || tr.Loudness.IntegratedLUFS < -30 || tr.Loudness.TruePeakDBTP > 0 {
			t.Errorf("track %d: implausible loudness %+v", i+1, tr.Loudness)
		}
		for _, tier := range model.Tiers {
			if _, err := fs.Stat(FS, "data/"+tr.Tiers[tier]); err != nil {
				t.Errorf("track %d tier %s: %v", i+1, tier, err)
			}
		}
		sum += tr.Samples
	}
	if sum != TotalSamples {
		t.Errorf("tracks hold %d samples, piece has %d", sum, TotalSamples)
	}
	if err := model.ValidateRights(m.Rights); err != nil || len(m.Rights) == 0 {
		t.Errorf("rights %+v: %v", m.Rights, err)
	}
}

func TestFixturesFitBudget(t *testing.T) {
	var total int64
	err := fs.WalkDir(FS, "data", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		total += info.Size()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if total > 6<<20 {
		t.Fatalf("fixtures take %d bytes, budget is 6 MiB", total)
	}
}

func TestSynthesizeContinuousAndSplit(t *testing.T) {
	p := Synthesize()
	if len(p) != TotalSamples*Channels {
		t.Fatalf("%d values, want %d", len(p), TotalSamples*Channels)
	}
	var peak float64
	for _, v := range p {
		peak = math.Max(peak, math.Abs(float64(v)))
	}
	if peak > 0.99 || peak < 0.2 {
		t.Fatalf("peak %v outside (0.2, 0.99)", peak)
	}
	// The piece must be sounding at every cut, so a gap there is audible.
	for _, c := range Cuts {
		var e float64
		for i := c - 2205; i < c+2205; i++ {
			e += float64(p[2*i]) * float64(p[2*i])
		}
		if rms := math.Sqrt(e / 4410); rms < 0.02 {
			t.Errorf("cut %d falls in near silence (rms %v)", c, rms)
		}
	}
	tr := Split(p)
	if int64(len(tr[0])/Channels) != Cuts[0] || len(tr[0])+len(tr[1])+len(tr[2])+len(tr[3]) != len(p) {
		t.Fatal("split lengths do not add up")
	}
}

func TestWriteWAVHeader(t *testing.T) {
	tests := []struct {
		name     string
		samples  []float32
		channels int
		wantErr  bool
	}{
		{"stereo", []float32{0, 0.5, -0.5, 1}, 2, false},
		{"mono", []float32{0.25}, 1, false},
		{"ragged", []float32{0, 1, 2}, 2, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			err := WriteWAV(&b, tc.samples, 8000, tc.channels)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			w := b.Bytes()
			if len(w) != 44+4*len(tc.samples) || string(w[:4]) != "RIFF" || binary.LittleEndian.Uint16(w[20:]) != 3 {
				t.Fatalf("bad header % x", w[:44])
			}
			if got := math.Float32frombits(binary.LittleEndian.Uint32(w[44:])); got != tc.samples[0] {
				t.Fatalf("first sample %v, want %v", got, tc.samples[0])
			}
		})
	}
}

func ExampleAlbum() {
	m, err := Album()
	if err != nil {
		panic(err)
	}
	for _, t := range m.Tracks {
		fmt.Println(t.TrackNumber, t.Title, t.Samples)
	}
	// Output:
	// 1 Arrival 617003
	// 2 Crossing 682706
	// 3 Harbour Lights 680284
	// 4 Segue 666006
}
