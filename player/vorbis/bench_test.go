//go:build !js && !wasip1

package vorbis

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player/ogg"
)

// benchFile returns a 4-minute stereo 44.1 kHz Ogg Vorbis file encoded at
// oggenc quality q, cached in os.TempDir across runs.
func benchFile(b *testing.B, q string) string {
	b.Helper()
	dir := filepath.Join(os.TempDir(), "segue-vorbis-bench-v1")
	out := filepath.Join(dir, "music-q"+q+".ogg")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	sox := testtool.Need(b, "sox")
	wav := filepath.Join(dir, "music.wav")
	if _, err := os.Stat(wav); err != nil {
		run(b, sox, "-n", "-r", "44100", "-c", "2", "-b", "16", wav+".tmp.wav",
			"synth", "240", "sine", "110-3520", "pinknoise", "tremolo", "3", "60", "vol", "0.6")
		if err := os.Rename(wav+".tmp.wav", wav); err != nil {
			b.Fatal(err)
		}
	}
	oggenc(b, wav, out+".tmp", "-q", q)
	if err := os.Rename(out+".tmp", out); err != nil {
		b.Fatal(err)
	}
	return out
}

// packets splits an Ogg file into its packets (copied).
func packets(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	r := ogg.NewReader(bytes.NewReader(data))
	var ps [][]byte
	for {
		p, err := r.Next()
		if err != nil {
			break
		}
		ps = append(ps, append([]byte(nil), p.Data...))
	}
	return ps
}

// BenchmarkDecodeVsLibvorbis decodes the same 4-minute files with this
// package (packets already demuxed, so only decoding is timed) and with
// libvorbisfile (testdata/vfdecode.c, ov_read_float without output,
// which includes its Ogg demux), and reports ×-realtime, the speed ratio
// and allocations per packet.
func BenchmarkDecodeVsLibvorbis(b *testing.B) {
	for _, tc := range []struct{ name, q string }{{"320kbps-q9", "9"}, {"96kbps-q2", "2"}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			path := benchFile(b, tc.q)
			ref := oracle(b)
			data, err := os.ReadFile(path)
			if err != nil {
				b.Fatal(err)
			}
			ps := packets(b, data)
			d := NewDecoder(DefaultOptions())
			for _, p := range ps[:3] {
				if err := d.ReadHeader(p); err != nil {
					b.Fatal(err)
				}
			}
			audio := ps[3:]
			seconds := 0.0
			// libvorbis, timed in the same run: best of 3.
			libBest := time.Duration(1 << 62)
			for range 3 {
				start := time.Now()
				if out, err := exec.Command(ref, path, "-").Output(); err != nil {
					b.Fatalf("vfdecode: %v %s", err, out)
				}
				libBest = min(libBest, time.Since(start))
			}
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			var allocs float64
			b.ResetTimer()
			for range b.N {
				// Like libvorbisfile, ours demuxes the Ogg pages and trims by
				// granule position inside the timed loop.
				sr := NewStreamReader(bytes.NewReader(data), DefaultOptions())
				frames := 0
				for {
					pcm, err := sr.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					frames += len(pcm[0])
				}
				seconds = float64(frames) / float64(sr.Info().SampleRate)
			}
			b.StopTimer()
			allocs = testing.AllocsPerRun(1, func() {
				d.Reset()
				for _, p := range audio {
					d.Decode(p)
				}
			}) / float64(len(audio))
			ours := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(seconds/ours.Seconds(), "x-realtime")
			b.ReportMetric(seconds/libBest.Seconds(), "libvorbis-x-realtime")
			b.ReportMetric(libBest.Seconds()/ours.Seconds(), "speed-vs-libvorbis")
			b.ReportMetric(allocs, "allocs/packet")
		})
	}
}
