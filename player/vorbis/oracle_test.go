//go:build !js && !wasip1

package vorbis

import (
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// TestMatchesLibvorbis decodes files made by oggenc and ffmpeg from
// synthesised sources and compares every sample with libvorbisfile's
// ov_read_float.
func TestMatchesLibvorbis(t *testing.T) {
	oracle(t)
	dir := t.TempDir()
	music := []string{"synth", "6", "sine", "220-1760", "pinknoise", "vol", "0.5"}
	tests := []struct {
		name string
		rate int
		ch   int
		sox  []string
		enc  []string
		ff   bool // encode with ffmpeg's native Vorbis encoder
	}{
		{name: "q2", rate: 44100, ch: 2, sox: music, enc: []string{"-q", "2"}},
		{name: "q5", rate: 44100, ch: 2, sox: music, enc: []string{"-q", "5"}},
		{name: "q9", rate: 44100, ch: 2, sox: music, enc: []string{"-q", "9"}},
		{name: "low16k", rate: 44100, ch: 2, sox: music, enc: []string{"-q", "0", "--resample", "16000"}},
		{name: "mono", rate: 44100, ch: 1, sox: []string{"synth", "3", "sine", "440-880", "vol", "0.7"}, enc: []string{"-q", "4"}},
		{name: "48k", rate: 48000, ch: 2, sox: []string{"synth", "3", "pinknoise", "vol", "0.6"}, enc: []string{"-q", "6"}},
		{name: "surround51", rate: 48000, ch: 6, sox: []string{"synth", "2", "sine", "100", "sine", "200", "sine", "300", "sine", "60", "sine", "500", "pinknoise"}, enc: []string{"-q", "3"}},
		{name: "surround71", rate: 48000, ch: 8, sox: []string{"synth", "2", "sine", "100", "sine", "200", "sine", "300", "sine", "60", "sine", "500", "sine", "700", "sine", "900", "pinknoise"}, enc: []string{"-q", "3"}},
		{name: "3ch", rate: 44100, ch: 3, sox: []string{"synth", "2", "sine", "100", "sine", "200", "pinknoise"}, enc: []string{"-q", "4"}},
		{name: "short", rate: 44100, ch: 2, sox: []string{"synth", "100s", "sine", "1000"}, enc: []string{"-q", "5"}},
		{name: "one-sample", rate: 44100, ch: 1, sox: []string{"synth", "1s", "sine", "1000"}, enc: []string{"-q", "5"}},
		{name: "silence", rate: 44100, ch: 2, sox: []string{"trim", "0", "2"}, enc: []string{"-q", "5"}},
		{name: "fullscale-noise", rate: 44100, ch: 2, sox: []string{"synth", "2", "whitenoise"}, enc: []string{"-q", "9"}},
		{name: "8k-mono", rate: 8000, ch: 1, sox: []string{"synth", "2", "sine", "300"}, enc: []string{"-q", "1"}},
		{name: "ffmpeg", rate: 44100, ch: 2, sox: music, ff: true},
		{name: "ffmpeg-22k", rate: 22050, ch: 2, sox: []string{"synth", "2", "pinknoise"}, ff: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wav := source(t, dir, tc.name, tc.rate, tc.ch, tc.sox...)
			out := filepath.Join(dir, tc.name+".ogg")
			if tc.ff {
				ff := testtool.Need(t, "ffmpeg")
				run(t, ff, "-v", "error", "-y", "-i", wav, "-c:a", "vorbis", "-strict", "experimental", out)
			} else {
				oggenc(t, wav, out, tc.enc...)
			}
			want, _ := reference(t, out)
			got, _ := decodeFile(t, out)
			compare(t, tc.name, got, want, 1e-5, 1e-6)
		})
	}
}
