package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/examples/eq/dsp"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/internal/wasmbuild"
)

// `segue play --effect eq.wasm --effect-param …` plays the album through
// the equaliser plugin: the WAV is the plain play's equalised by the
// native build of the same code, sample for sample. Bad plugin files and
// parameters fail with clear errors before anything plays.
func TestPlayWithEffect(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // the plugin compilation cache
	const tier = model.TierNormal
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	tmp := t.TempDir()
	eqPath := filepath.Join(tmp, "eq.wasm")
	if err := os.WriteFile(eqPath, wasmbuild.ForTest(t, "examples/eq", "examples/eq/dsp"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"--data", filepath.Join(tmp, "device"), "--relay", r.URL, "--user", "ada", "--password", "a long enough secret", "--signup"}
	play := func(out string, extra ...string) segueResult {
		args := append([]string{"play", "album", string(r.Album), "--tier", string(tier), "--gain", "off", "--format", "f32", "--out", out}, extra...)
		return segue(t, append(args, base...)...)
	}
	plain := filepath.Join(tmp, "plain.wav")
	if res := play(plain); res.code != 0 {
		t.Fatalf("play: exit %d\n%s", res.code, res.stderr)
	}
	eqd := filepath.Join(tmp, "eq.wav")
	// A generous bound: this machine may be busy; timing is not tested here.
	res := play(eqd, "--effect-bound", "10s", "--effect", eqPath, "--effect-param", "band3=+4", "--effect-param", "preamp=-4")
	if res.code != 0 || strings.Contains(res.stderr, "effect removed") {
		t.Fatalf("play --effect: exit %d\n%s", res.code, res.stderr)
	}
	want := readWAV(t, plain).Samples
	eq, _ := dsp.New(44100, 2)
	eq.SetParam("band3", 4)
	eq.SetParam("preamp", -4)
	eq.Process(want)
	got := readWAV(t, eqd).Samples
	if len(got) != len(want) {
		t.Fatalf("%d samples through the effect, want %d", len(got), len(want))
	}
	bad := 0
	for i := range want {
		if got[i] != want[i] {
			if bad < 3 {
				t.Logf("sample %d: %v, want %v", i, got[i], want[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d samples differ; stderr:\n%s", bad, res.stderr)
	}

	garbage := filepath.Join(tmp, "garbage.wasm")
	os.WriteFile(garbage, []byte("not a module"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--effect", garbage}, "plugin: invalid module"},
		{[]string{"--effect", filepath.Join(tmp, "missing.wasm")}, "no such file"},
		{[]string{"--effect-param", "band3=+4"}, "--effect-param before any --effect"},
		{[]string{"--effect", eqPath, "--effect-param", "band3"}, "want key=value"},
		{[]string{"--effect", eqPath, "--effect-param", "band42=1"}, "unknown key"},
		{[]string{"--effect", eqPath, "--effect-param", "band2=99"}, "out of range"},
	} {
		out := filepath.Join(tmp, "bad.wav")
		res := play(out, tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", tc.args, res.code, tc.want, res.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: a failed play left %s", tc.args, out)
		}
	}
}
