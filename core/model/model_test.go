package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validManifest() Manifest {
	return Manifest{
		Version: ManifestVersion, TrackID: "tr1", Tier: TierHigh, Codec: CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: 300,
		Header: BlobRef{Size: 10},
		Chunks: []Chunk{
			{Index: 0, FirstSample: 0, Samples: 100, Blob: BlobRef{Size: 50}},
			{Index: 1, FirstSample: 100, Samples: 150, PrimerSize: 20, Blob: BlobRef{Size: 60}},
			{Index: 2, FirstSample: 250, Samples: 50, PrimerSize: 20, Blob: BlobRef{Size: 30}},
		},
	}
}

func TestManifestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(m *Manifest)
		ok     bool
	}{
		{"valid", func(*Manifest) {}, true},
		{"version", func(m *Manifest) { m.Version = 2 }, false},
		{"codec", func(m *Manifest) { m.Codec = "opus" }, false},
		{"tier", func(m *Manifest) { m.Tier = "ultra" }, false},
		{"empty track", func(m *Manifest) { m.TrackID = "" }, false},
		{"rate", func(m *Manifest) { m.SampleRate = 0 }, false},
		{"channels", func(m *Manifest) { m.Channels = 0 }, false},
		{"no chunks", func(m *Manifest) { m.Chunks = nil; m.TotalSamples = 0 }, false},
		{"header size", func(m *Manifest) { m.Header.Size = MaxBlobSize + 1 }, false},
		{"index gap", func(m *Manifest) { m.Chunks[1].Index = 5 }, false},
		{"sample gap", func(m *Manifest) { m.Chunks[2].FirstSample = 251 }, false},
		{"negative samples", func(m *Manifest) { m.Chunks[2].Samples = -1 }, false},
		{"blob size", func(m *Manifest) { m.Chunks[1].Blob.Size = 0 }, false},
		{"primer on chunk 0", func(m *Manifest) { m.Chunks[0].PrimerSize = 1 }, false},
		{"primer fills blob", func(m *Manifest) { m.Chunks[1].PrimerSize = 60 }, false},
		{"total mismatch", func(m *Manifest) { m.TotalSamples = 299 }, false},
		{"timing run start", func(m *Manifest) { m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, SourceSamples: 826} }, true},
		{"timing mid run", func(m *Manifest) {
			m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, RunOffset: 617003, SourceSamples: 826, Follows: "tr0"}
		}, true},
		{"timing length", func(m *Manifest) { m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, SourceSamples: 830} }, false},
		{"timing same rate", func(m *Manifest) { m.Timing = &Timing{SourceRate: 44100, SourceSamples: 300} }, false},
		{"timing follows nothing", func(m *Manifest) {
			m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, RunOffset: 617003, SourceSamples: 826}
		}, false},
		{"timing first follows", func(m *Manifest) {
			m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, SourceSamples: 826, Follows: "tr0"}
		}, false},
		{"timing overflow", func(m *Manifest) {
			m.SampleRate, m.Timing = 16000, &Timing{SourceRate: 44100, RunOffset: MaxRunFrames, SourceSamples: 826, Follows: "tr0"}
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validManifest()
			tc.mutate(&m)
			err := m.Validate()
			if tc.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrBadManifest) {
				t.Fatalf("Validate = %v, want ErrBadManifest", err)
			}
		})
	}
}

func TestManifestChunkAt(t *testing.T) {
	m := validManifest()
	for _, tc := range []struct {
		s    int64
		want int
	}{{-1, -1}, {0, 0}, {99, 0}, {100, 1}, {249, 1}, {250, 2}, {299, 2}, {300, -1}} {
		if got := m.ChunkAt(tc.s); got != tc.want {
			t.Errorf("ChunkAt(%d) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestParseTier(t *testing.T) {
	for i, tier := range Tiers {
		got, err := ParseTier(string(tier))
		if err != nil || got != tier || tier.Index() != i || !tier.Valid() {
			t.Errorf("tier %q: got %q, %v, index %d", tier, got, err, tier.Index())
		}
	}
	for _, bad := range []string{"", "HIGH", "lossless"} {
		if _, err := ParseTier(bad); !errors.Is(err, ErrInvalidTier) {
			t.Errorf("ParseTier(%q) = %v, want ErrInvalidTier", bad, err)
		}
		if Tier(bad).Index() != -1 {
			t.Errorf("Tier(%q).Index() != -1", bad)
		}
	}
}

func TestTrackDuration(t *testing.T) {
	tr := Track{SampleRate: 44100, Samples: 44100 * 90}
	if d := tr.Duration(); d != 90*time.Second {
		t.Fatalf("Duration = %v", d)
	}
	if d := (Track{}).Duration(); d != 0 {
		t.Fatalf("zero track Duration = %v", d)
	}
}

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"trabc123", true},
		{"4NCRfzFwPzBxMTJ3fZxC6eaYNoJ", true},
		{"", false},
		{"a/b", false},
		{"a\x00b", false},
		{strings.Repeat("x", MaxIDLen), true},
		{strings.Repeat("x", MaxIDLen+1), false},
	} {
		if got := ValidID(tc.id); got != tc.want {
			t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestResampledSpanTiles(t *testing.T) {
	// Four tracks of one 1,058,400-frame piece at 44.1 kHz, cut at
	// positions that are not multiples of 441/160: their 16 kHz spans tile
	// the piece resampled once (384,000 samples), where resampling each
	// track alone and rounding up gives more.
	cuts := []int64{0, 264_601, 529_199, 793_803, 1_058_400}
	var next, alone int64
	for i := range 4 {
		first, n := ResampledSpan(cuts[i], cuts[i+1]-cuts[i], 44100, 16000)
		if first != next {
			t.Fatalf("track %d starts at %d, want %d", i+1, first, next)
		}
		next = first + n
		_, a := ResampledSpan(0, cuts[i+1]-cuts[i], 44100, 16000)
		alone += a
	}
	if next != 384_000 {
		t.Fatalf("spans total %d, want 384000", next)
	}
	if alone <= next {
		t.Fatalf("tracks resampled alone total %d, want more than %d (the cuts must not fall on the ratio)", alone, next)
	}
}

func TestParseShare(t *testing.T) {
	tests := []struct {
		in   string
		want Share
		ok   bool
	}{
		{"1", ShareScale, true},
		{"1.0", ShareScale, true},
		{"0.25", 250_000_000, true},
		{"0.1", 100_000_000, true},
		{"0.000000001", 1, true},
		{"0.333333333", 333_333_333, true},
		{"0", 0, false},
		{"0.0", 0, false},
		{"0.0000000001", 0, false},
		{"1.5", 0, false},
		{"1.000000001", 0, false},
		{"2", 0, false},
		{"-0.5", 0, false},
		{".5", 0, false},
		{"0.", 0, false},
		{"0.5e0", 0, false},
		{"", 0, false},
		{"00.5", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseShare(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseShare(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBadShare) {
			t.Errorf("ParseShare(%q) error %v is not ErrBadShare", tc.in, err)
		}
		if tc.ok {
			back, err := ParseShare(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q via %q: %d %v", tc.in, got.String(), back, err)
			}
		}
	}
}

func TestValidateRights(t *testing.T) {
	sh := func(s string) Share {
		v, err := ParseShare(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"none", `[]`, true},
		{"one holder", `[{"party":"A","role":"performer","share":1}]`, true},
		{"tenths exact (float would drift)", `[{"party":"A","role":"performer","share":0.1},{"party":"B","role":"songwriter","share":0.2},{"party":"C","role":"label","share":"0.7"}]`, true},
		{"thirds short of 1", `[{"party":"A","role":"performer","share":0.333333333},{"party":"B","role":"songwriter","share":0.333333333},{"party":"C","role":"label","share":0.333333333}]`, false},
		{"over 1", `[{"party":"A","role":"performer","share":0.6},{"party":"B","role":"label","share":0.5}]`, false},
		{"no party", `[{"role":"performer","share":1}]`, false},
		{"bad role", `[{"party":"A","role":"producer","share":1}]`, false},
		{"legacy holder field", `[{"holder":"A","share":1}]`, false},
		{"repeated party role", `[{"party":"A","role":"label","share":0.5},{"party":"A","role":"label","share":0.5}]`, false},
		{"same party two roles", `[{"party":"A","role":"label","share":0.5},{"party":"A","role":"performer","share":0.5}]`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rs []RightsShare
			err := json.Unmarshal([]byte(tc.json), &rs)
			if err == nil {
				err = ValidateRights(rs)
			}
			if tc.ok != (err == nil) {
				t.Fatalf("got %v, want ok=%v", err, tc.ok)
			}
		})
	}
	if err := ValidateRights([]RightsShare{{Party: "A", Role: RoleLabel, Share: sh("0.5")}}); !errors.Is(err, ErrBadRights) {
		t.Fatalf("half: %v", err)
	}
}

func FuzzParseShare(f *testing.F) {
	for _, s := range []string{"0.25", "1", "0.000000001", "1.0", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseShare(s)
		if err != nil {
			return
		}
		if v == 0 || v > ShareScale {
			t.Fatalf("ParseShare(%q) = %d out of range", s, v)
		}
		if back, err := ParseShare(v.String()); err != nil || back != v {
			t.Fatalf("round trip %q: %v %v", s, back, err)
		}
	})
}
