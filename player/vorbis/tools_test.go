//go:build !js && !wasip1

package vorbis

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/internal/testtool"
)

// toolDir holds files shared by every test of one run: the built
// reference decoder and generated sources.
var (
	toolDirOnce sync.Once
	toolDir     string
	toolDirErr  error

	oracleOnce sync.Once
	oraclePath string
	oracleErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if toolDir != "" {
		os.RemoveAll(toolDir)
	}
	os.Exit(code)
}

func sharedDir(tb testing.TB) string {
	toolDirOnce.Do(func() { toolDir, toolDirErr = os.MkdirTemp("", "vorbis-test-") })
	if toolDirErr != nil {
		tb.Fatal(toolDirErr)
	}
	return toolDir
}

// oracle returns the path of vfdecode (testdata/vfdecode.c) built
// against libvorbisfile, building it once per test run.
func oracle(tb testing.TB) string {
	tb.Helper()
	gcc := testtool.Need(tb, "gcc")
	oracleOnce.Do(func() {
		out := filepath.Join(sharedDir(tb), "vfdecode")
		cmd := exec.Command(gcc, "-O2", "-o", out, "testdata/vfdecode.c", "-lvorbisfile", "-lvorbis", "-logg", "-lm")
		if b, err := cmd.CombinedOutput(); err != nil {
			oracleErr = fmt.Errorf("build vfdecode (needs libvorbis-dev): %v\n%s", err, b)
			return
		}
		oraclePath = out
	})
	if oracleErr != nil {
		if testtool.InCI() {
			tb.Fatal(oracleErr)
		}
		tb.Skip(oracleErr)
	}
	return oraclePath
}

// run executes a tool, failing the test with its output on error.
func run(tb testing.TB, name string, args ...string) []byte {
	tb.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// reference decodes path with libvorbisfile and returns interleaved
// samples and the channel count.
func reference(tb testing.TB, path string) ([]float32, int) {
	tb.Helper()
	raw := path + ".ref.f32"
	out := run(tb, oracle(tb), path, raw)
	var ch, rate, frames int
	if _, err := fmt.Sscan(string(out), &ch, &rate, &frames); err != nil {
		tb.Fatalf("vfdecode output %q: %v", out, err)
	}
	b, err := os.ReadFile(raw)
	if err != nil {
		tb.Fatal(err)
	}
	s := make([]float32, len(b)/4)
	for i := range s {
		s[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	if len(s) != frames*ch {
		tb.Fatalf("vfdecode wrote %d samples, reported %d frames × %d channels", len(s), frames, ch)
	}
	return s, ch
}

// decodeAll decodes r with a StreamReader and returns interleaved samples
// and the first link's Info.
func decodeAll(tb testing.TB, r io.Reader) ([]float32, Info) {
	tb.Helper()
	sr := NewStreamReader(r, DefaultOptions())
	var all []float32
	for {
		pcm, err := sr.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatalf("decode: %v", err)
		}
		all = Interleave(all, pcm)
	}
	return all, sr.Info()
}

func decodeFile(tb testing.TB, path string) ([]float32, Info) {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	return decodeAll(tb, f)
}

// compare checks got against want sample by sample.
func compare(tb testing.TB, name string, got, want []float32, maxAbs, maxRMS float64) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d samples, libvorbis gives %d", name, len(got), len(want))
	}
	worst, sum := 0.0, 0.0
	at := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if d > worst {
			worst, at = d, i
		}
		sum += d * d
	}
	rms := 0.0
	if len(got) > 0 {
		rms = math.Sqrt(sum / float64(len(got)))
	}
	tb.Logf("%s: %d samples, max abs error %.3g (at %d), RMS %.3g", name, len(got), worst, at, rms)
	if worst > maxAbs || rms > maxRMS {
		tb.Errorf("%s: max abs error %.3g (limit %.0g) at sample %d (got %v want %v), RMS %.3g (limit %.0g)",
			name, worst, maxAbs, at, got[at], want[at], rms, maxRMS)
	}
}

// source synthesises a 16-bit WAV of the given rate and channel count
// with the sox effects into dir and returns its path.
func source(tb testing.TB, dir, name string, rate, channels int, effects ...string) string {
	tb.Helper()
	sox := testtool.Need(tb, "sox")
	p := filepath.Join(dir, name+".wav")
	args := []string{"-n", "-r", fmt.Sprint(rate), "-c", fmt.Sprint(channels), "-b", "16", p}
	run(tb, sox, append(args, effects...)...)
	return p
}

// oggenc encodes wav to dir/name.ogg with the extra oggenc arguments.
func oggenc(tb testing.TB, wav, out string, args ...string) string {
	tb.Helper()
	enc := testtool.Need(tb, "oggenc")
	run(tb, enc, append(append([]string{"-Q"}, args...), "-o", out, wav)...)
	return out
}
