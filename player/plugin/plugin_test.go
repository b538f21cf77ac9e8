package plugin_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"math/cmplx"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/examples/eq/dsp"
	"github.com/segue-fm/segue/internal/wasmbuild"
	"github.com/segue-fm/segue/player/plugin"
)

const rate = 44100

// sineFit returns the complex amplitude of a sinusoid of freq Hz in
// channel ch of interleaved stereo x over frames [a, b), by least squares
// on sin and cos (exact for a pure sinusoid over any window).
func sineFit(x []float32, ch, a, b int, freq float64) complex128 {
	var ss, cc, sc, xs, xc float64
	for i := a; i < b; i++ {
		s, c := math.Sincos(2 * math.Pi * freq * float64(i) / rate)
		v := float64(x[2*i+ch])
		ss += s * s
		cc += c * c
		sc += s * c
		xs += v * s
		xc += v * c
	}
	det := ss*cc - sc*sc
	as := (xs*cc - xc*sc) / det
	ac := (xc*ss - xs*sc) / det
	return complex(ac, -as) // v ≈ Re(A·e^{iωt}) = ac·cos − (−as)·sin
}

func stereoSine(frames int, freq float64) []float32 {
	x := make([]float32, 2*frames)
	for i := range frames {
		v := float32(0.25 * math.Sin(2*math.Pi*freq*float64(i)/rate))
		x[2*i], x[2*i+1] = v, v
	}
	return x
}

func processBlocks(t testing.TB, inst *plugin.Instance, x []float32, block int) {
	t.Helper()
	for off := 0; off < len(x); off += 2 * block {
		if err := inst.Process(context.Background(), x[off:min(off+2*block, len(x))]); err != nil {
			t.Fatal(err)
		}
	}
}

func db(v float64) float64 { return 20 * math.Log10(v) }

// A sine at a band's centre, through the plugin with that band at +6 dB,
// gains 6 ± 0.1 dB (the RBJ peaking filter's gain at f0 is exactly the
// band gain); sines far from the band come out as the analytic biquad
// response says (≈ 0 dB) and the other bands leave them bit-exact.
func TestEQResponseMatchesBiquad(t *testing.T) {
	p := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t))
	const frames = rate // 1 s; fit over the last 0.5 s
	for _, band := range []int{1, 3, 6, 10} {
		f0 := dsp.DefaultFreqs[band-1]
		key := "band" + string(rune('0'+band%10))
		if band == 10 {
			key = "band10"
		}
		inst, err := p.Instantiate(context.Background(), rate, 2, plugin.Param{Key: key, Value: 6})
		if err != nil {
			t.Fatal(err)
		}
		c := dsp.Peaking(dsp.Band{Freq: f0, GainDB: 6, Q: dsp.DefaultQ}, rate)
		for _, f := range []float64{f0, f0 / 16, f0 * 16} {
			if f < 20 || f > 20000 {
				continue
			}
			x := stereoSine(frames, f)
			in := sineFit(x, 0, frames/2, frames, f)
			processBlocks(t, inst, x, 1024)
			for ch := range 2 {
				out := sineFit(x, ch, frames/2, frames, f)
				got := out / in
				want := c.Response(f, rate)
				gotDB, wantDB := db(cmplx.Abs(got)), db(cmplx.Abs(want))
				if f == f0 && math.Abs(gotDB-6) > 0.1 {
					t.Errorf("band %d: a sine at %.2f Hz gained %.4f dB, want 6 ± 0.1", band, f, gotDB)
				}
				if math.Abs(gotDB-wantDB) > 0.01 {
					t.Errorf("band %d: %.2f Hz gained %.4f dB, the biquad's response is %.4f dB", band, f, gotDB, wantDB)
				}
				if d := math.Abs(cmplx.Phase(got) - cmplx.Phase(want)); d > 1e-3 {
					t.Errorf("band %d: %.2f Hz phase %.5f, the biquad's is %.5f", band, f, cmplx.Phase(got), cmplx.Phase(want))
				}
			}
			inst.Close()
			if inst, err = p.Instantiate(context.Background(), rate, 2, plugin.Param{Key: key, Value: 6}); err != nil {
				t.Fatal(err)
			}
		}
		inst.Close()
	}
}

// With every band flat the plugin is the identity, bit for bit; with one
// band boosted the output is exactly that one biquad's (the others are
// bypassed): the same as the native build of the same code.
func TestEQFlatIsIdentityAndMatchesNative(t *testing.T) {
	p := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t))
	rng := rand.New(rand.NewPCG(7, 8))
	x := make([]float32, 2*20000)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.2)
	}
	flat, err := p.Instantiate(context.Background(), rate, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer flat.Close()
	y := bytes.Clone(f32bytes(x))
	got := append([]float32(nil), x...)
	processBlocks(t, flat, got, 1000)
	if !bytes.Equal(f32bytes(got), y) {
		t.Fatal("a flat equaliser changed the signal")
	}
	params := []plugin.Param{{Key: "preamp", Value: -3}, {Key: "band2", Value: 5}, {Key: "band7.gain", Value: -8},
		{Key: "band7.freq", Value: 2500}, {Key: "band7.q", Value: 3}}
	inst, err := p.Instantiate(context.Background(), rate, 2, params...)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	got = append([]float32(nil), x...)
	processBlocks(t, inst, got, 1024)
	native, _ := dsp.New(rate, 2)
	for _, pr := range params {
		if err := native.SetParam(pr.Key, pr.Value); err != nil {
			t.Fatal(err)
		}
	}
	want := append([]float32(nil), x...)
	native.Process(want) // one block: the output does not depend on the split
	var maxDiff float64
	for i := range want {
		maxDiff = max(maxDiff, math.Abs(float64(want[i]-got[i])))
	}
	t.Logf("wasm vs native Go: max difference %g", maxDiff)
	if maxDiff > 1e-6 {
		t.Fatalf("the plugin differs from the native equaliser by %g", maxDiff)
	}
}

func f32bytes(x []float32) []byte {
	b := make([]byte, 0, 4*len(x))
	for _, v := range x {
		u := math.Float32bits(v)
		b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
	}
	return b
}

func instantiateBad(t *testing.T, rt *plugin.Runtime, mode float64) *plugin.Instance {
	t.Helper()
	inst, err := compile(t, rt, "bad", badWasm(t)).Instantiate(context.Background(), rate, 2,
		plugin.Param{Key: "mode", Value: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

// A misbehaving plugin is unloaded with an error naming the failure, the
// block is left unchanged, and later calls fail with ErrUnloaded.
func TestMisbehavingPluginsUnloaded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    float64
		pages   uint32
		want    error
		message string
	}{
		{"loop", 1, 1024, plugin.ErrTimeout, ""},
		{"panic", 2, 1024, plugin.ErrTrap, "boom"},
		{"memory hog", 3, 256, plugin.ErrTrap, "out of memory"},
		{"nan", 4, 1024, plugin.ErrBadOutput, "NaN"},
		{"status", 5, 1024, plugin.ErrBadOutput, "returned 7"},
		{"index out of range", 6, 1024, plugin.ErrTrap, "index out of range"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := sharedRuntimeBound(t, tc.pages, plugin.DefaultOptions().BlockTimeout())
			if tc.pages < 1024 {
				// The Go runtime collects garbage between growths: give
				// it time to reach the cap.
				rt = sharedRuntimeBound(t, tc.pages, 20*time.Second)
			}
			inst := instantiateBad(t, rt, tc.mode)
			x := stereoSine(1024, 440)
			orig := append([]float32(nil), x...)
			start := time.Now()
			err := inst.Process(context.Background(), x)
			took := time.Since(start)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.want, tc.message)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
			if bound := rt.Options().BlockTimeout(); tc.want == plugin.ErrTimeout && took > bound+time.Second {
				t.Fatalf("a looping plugin stopped after %v; the bound is %v", took, bound)
			}
			if !bytes.Equal(f32bytes(x), f32bytes(orig)) {
				t.Fatal("the failed block was changed")
			}
			if err := inst.Process(context.Background(), x); !errors.Is(err, plugin.ErrUnloaded) || !errors.Is(err, tc.want) {
				t.Fatalf("after unloading: %v, want ErrUnloaded wrapping %v", err, tc.want)
			}
			if !errors.Is(inst.Err(), tc.want) || inst.MemoryBytes() != 0 {
				t.Fatalf("Err() = %v, memory %d", inst.Err(), inst.MemoryBytes())
			}
		})
	}
}

// The memory cap holds: a plugin that keeps allocating gets memory up to
// the cap and no further, then fails.
func TestMemoryCap(t *testing.T) {
	const pages = 200
	rt := sharedRuntimeBound(t, pages, 20*time.Second)
	inst := instantiateBad(t, rt, 0)
	if m := inst.MemoryBytes(); m == 0 || m > pages*65536 {
		t.Fatalf("memory %d bytes at load, cap %d", m, pages*65536)
	}
	if err := inst.SetParam(context.Background(), "mode", 3); err != nil {
		t.Fatal(err)
	}
	if err := inst.Process(context.Background(), make([]float32, 64)); !errors.Is(err, plugin.ErrTrap) {
		t.Fatalf("hog: %v", err)
	}
}

// A hand-assembled module whose segue_process executes unreachable traps
// and is unloaded; the host keeps running other plugins.
func TestTrapPlugin(t *testing.T) {
	rt := sharedRuntime(t, 1024)
	p := compile(t, rt, "trap", abiModule(1, []byte{0x00}))
	inst, err := p.Instantiate(context.Background(), rate, 2)
	if err != nil {
		t.Fatal(err)
	}
	err = inst.Process(context.Background(), make([]float32, 128))
	if !errors.Is(err, plugin.ErrTrap) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("err = %v, want ErrTrap (unreachable)", err)
	}
	ok := compile(t, rt, "ok", abiModule(1, []byte{0x41, 0}))
	inst2, err := ok.Instantiate(context.Background(), rate, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer inst2.Close()
	if err := inst2.Process(context.Background(), make([]float32, 128)); err != nil {
		t.Fatal(err)
	}
}

func TestABIVersionMismatchRefused(t *testing.T) {
	rt := sharedRuntime(t, 1024)
	for _, v := range []int32{0, 2, -1} {
		p := compile(t, rt, "v", abiModule(v, []byte{0x41, 0}))
		if _, err := p.Instantiate(context.Background(), rate, 2); !errors.Is(err, plugin.ErrABIVersion) {
			t.Fatalf("version %d: %v, want ErrABIVersion", v, err)
		}
	}
}

func TestInvalidModulesRefused(t *testing.T) {
	rt := sharedRuntime(t, 1024)
	eq := eqWasm(t)
	imp := append(append(append([]byte{1}, name("env")...), name("foo")...), 0, 0)
	for _, tc := range []struct {
		name, want string
		wasm       []byte
	}{
		{"empty", "", nil},
		{"garbage", "", []byte("this is not wasm at all")},
		{"truncated", "", eq[:len(eq)/2]},
		{"too large", "bytes (at most", make([]byte, plugin.MaxModuleBytes+1)},
		{"too many functions", "functions (at most", assemble(wasmParts{version: 1, processBody: []byte{0x41, 0}, processType: 2, memMin: 4, extraFuncs: plugin.MaxFunctions - 4})},
		{"function too large", "function 4 is", abiModule(1, append(bytes.Repeat([]byte{0x41, 0, 0x1a}, plugin.MaxFunctionBytes/3), 0x41, 0))},
		{"no segue_process", "no exported function segue_process", assemble(wasmParts{version: 1, processBody: []byte{0x41, 0}, processType: 2, memMin: 4, skipExport: "segue_process"})},
		{"wrong signature", "wrong signature", assemble(wasmParts{version: 1, processType: 0, memMin: 4})},
		{"foreign import", "imports env.foo", assemble(wasmParts{version: 1, processBody: []byte{0x41, 0}, processType: 2, memMin: 4, imports: imp, nImports: 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := rt.Compile(context.Background(), tc.name, tc.wasm)
			if !errors.Is(err, plugin.ErrInvalidModule) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidModule containing %q", err, tc.want)
			}
		})
	}
	small := sharedRuntime(t, 2)
	if _, err := small.Compile(context.Background(), "big", abiModule(1, []byte{0x41, 0})); !errors.Is(err, plugin.ErrInvalidModule) {
		t.Fatalf("memory above the cap: %v", err)
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want plugin.Param
		ok   bool
	}{
		{"band3=+4", plugin.Param{Key: "band3", Value: 4}, true},
		{"preamp=-3.5", plugin.Param{Key: "preamp", Value: -3.5}, true},
		{"band7.freq=2.5e3", plugin.Param{Key: "band7.freq", Value: 2500}, true},
		{"band3", plugin.Param{}, false},
		{"=4", plugin.Param{}, false},
		{"Band3=4", plugin.Param{}, false},
		{"band3=loud", plugin.Param{}, false},
		{"band3=NaN", plugin.Param{}, false},
		{"band3=Inf", plugin.Param{}, false},
		{strings.Repeat("k", 65) + "=1", plugin.Param{}, false},
	} {
		got, err := plugin.ParseParam(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ParseParam(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, plugin.ErrParam) {
			t.Errorf("ParseParam(%q): %v is not ErrParam", tc.in, err)
		}
	}
	inst, err := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t)).Instantiate(context.Background(), rate, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	for _, pr := range []plugin.Param{{"band11", 1}, {"band3.width", 1}, {"band3", 30}, {"band3.q", 0}, {"band3.freq", 30000}, {"band3", math.NaN()}} {
		if err := inst.SetParam(context.Background(), pr.Key, pr.Value); !errors.Is(err, plugin.ErrParam) {
			t.Errorf("SetParam(%s, %v) = %v, want ErrParam", pr.Key, pr.Value, err)
		}
	}
	if err := inst.Process(context.Background(), make([]float32, 64)); err != nil {
		t.Fatalf("refused parameters unloaded the plugin: %v", err)
	}
	if _, err := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t)).Instantiate(context.Background(), rate, 2,
		plugin.Param{Key: "band99", Value: 1}); !errors.Is(err, plugin.ErrParam) {
		t.Fatalf("Instantiate with an unknown key: %v", err)
	}
	if err := inst.Process(context.Background(), make([]float32, 3)); !errors.Is(err, plugin.ErrFormat) {
		t.Fatalf("partial frame: %v", err)
	}
}

// Compiled code goes to the cache directory; a second runtime on the same
// directory loads it instead of compiling.
func TestCompilationCachedOnDisk(t *testing.T) {
	dir := t.TempDir()
	eq := eqWasm(t)
	var took [2]time.Duration
	for k := range took {
		rt, err := plugin.NewRuntime(context.Background(), plugin.DefaultOptions().WithCacheDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := rt.Compile(context.Background(), "eq", eq); err != nil {
			t.Fatal(err)
		}
		took[k] = time.Since(start)
		rt.Close(context.Background())
		if k == 0 {
			var files int
			filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					files++
				}
				return nil
			})
			if files == 0 {
				t.Fatal("nothing cached on disk")
			}
		}
	}
	t.Logf("compile: %v; from the disk cache: %v", took[0], took[1])
	if took[1] > took[0] {
		t.Errorf("loading from the cache (%v) was slower than compiling (%v)", took[1], took[0])
	}
}

func TestFormatRefused(t *testing.T) {
	p := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t))
	for _, f := range [][2]int{{0, 2}, {44100, 0}, {44100, 33}, {999, 2}} {
		if _, err := p.Instantiate(context.Background(), f[0], f[1]); !errors.Is(err, plugin.ErrFormat) {
			t.Errorf("%v: %v, want ErrFormat", f, err)
		}
	}
}

// Blocks larger than the plugin's buffer are processed in pieces, with
// the same result as in one piece.
func TestLargeBlocksSplit(t *testing.T) {
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, plugin.DefaultOptions().WithCacheDir(filepath.Join(wasmbuild.CacheDir(), "wazero")).
		WithMaxBlockFrames(64).WithBlockTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	params := []plugin.Param{{Key: "band5", Value: 9}, {Key: "band9", Value: -9}}
	small, err := compile(t, rt, "eq", eqWasm(t)).Instantiate(ctx, rate, 2, params...)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	big, err := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t)).Instantiate(ctx, rate, 2, params...)
	if err != nil {
		t.Fatal(err)
	}
	defer big.Close()
	x := stereoSine(1000, 700)
	y := append([]float32(nil), x...)
	if err := small.Process(ctx, x); err != nil { // 16 pieces of ≤ 64 frames
		t.Fatal(err)
	}
	if err := big.Process(ctx, y); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f32bytes(x), f32bytes(y)) {
		t.Fatal("processing in pieces changed the result")
	}
}

// SetParam from another goroutine while blocks are processed is safe
// (run with -race) and takes effect between blocks.
func TestSetParamWhileProcessing(t *testing.T) {
	ctx := context.Background()
	inst, err := compile(t, sharedRuntime(t, 1024), "eq", eqWasm(t)).Instantiate(ctx, rate, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	done := make(chan error)
	go func() {
		for k := range 50 {
			if err := inst.SetParam(ctx, "band4", float64(k%12)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	x := stereoSine(256, 250)
	for range 50 {
		if err := inst.Process(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
