package plugin_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/wasmbuild"
	"github.com/segue-fm/segue/player/plugin"
)

// eqWasm and badWasm build the example equaliser and the misbehaving test
// plugin (cached by source hash, see internal/wasmbuild).
func eqWasm(tb testing.TB) []byte {
	return wasmbuild.ForTest(tb, "examples/eq", "examples/eq/dsp")
}

func badWasm(tb testing.TB) []byte { return wasmbuild.ForTest(tb, "player/plugin/testdata/bad") }

var (
	sharedMu sync.Mutex
	shared   = map[[2]int64]*plugin.Runtime{}
)

// sharedRuntime returns a runtime with the default options but the
// memory cap and a generous 10 s block bound (the machine running the
// tests may be busy; timing is tested with the default bound), shared by
// the tests, its compiled code cached next to the built plugins.
func sharedRuntime(tb testing.TB, pages uint32) *plugin.Runtime {
	return sharedRuntimeBound(tb, pages, 10*time.Second)
}

// sharedRuntimeBound is sharedRuntime with another block time bound.
func sharedRuntimeBound(tb testing.TB, pages uint32, bound time.Duration) *plugin.Runtime {
	tb.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	k := [2]int64{int64(pages), int64(bound)}
	if rt := shared[k]; rt != nil {
		return rt
	}
	opts := plugin.DefaultOptions().WithCacheDir(filepath.Join(wasmbuild.CacheDir(), "wazero")).
		WithMemoryLimit(pages).WithBlockTimeout(bound)
	rt, err := plugin.NewRuntime(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	shared[k] = rt
	return rt
}

func compile(tb testing.TB, rt *plugin.Runtime, name string, wasm []byte) *plugin.Plugin {
	tb.Helper()
	p, err := rt.Compile(context.Background(), name, wasm)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// wasmModule assembles a minimal module implementing the ABI by hand: its
// segue_abi_version returns version, segue_process runs processBody (an
// expression leaving an i32, e.g. i32.const 0, or 0x00 unreachable). Each
// tweak edits the parts before assembly, to make invalid variants.
type wasmParts struct {
	version     int32
	processBody []byte
	processType byte // index into the type section
	imports     []byte
	nImports    int
	memMin      byte
	skipExport  string
	extraFuncs  int // functions () -> i32 defined after the ABI's
}

func abiModule(version int32, processBody []byte) []byte {
	return assemble(wasmParts{version: version, processBody: processBody, processType: 2, memMin: 4})
}

func leb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func uleb(v uint64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if v == 0 {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func section(id byte, content []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
}

func vec(n int, items ...[]byte) []byte {
	out := uleb(uint64(n))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func assemble(p wasmParts) []byte {
	const i32, f64 = 0x7f, 0x7c
	types := vec(4,
		[]byte{0x60, 0, 1, i32},                // 0: () -> i32
		[]byte{0x60, 1, i32, 1, i32},           // 1: (i32) -> i32
		[]byte{0x60, 2, i32, i32, 1, i32},      // 2: (i32, i32) -> i32
		[]byte{0x60, 3, i32, i32, f64, 1, i32}, // 3: (i32, i32, f64) -> i32
	)
	funcs := vec(5+p.extraFuncs, append([]byte{0, 1, 2, 3, p.processType}, make([]byte, p.extraFuncs)...))
	body := func(code ...byte) []byte {
		b := append([]byte{0}, code...) // no locals
		b = append(b, 0x0b)
		return append(uleb(uint64(len(b))), b...)
	}
	constI32 := func(v int32) []byte { return append([]byte{0x41}, leb(int64(v))...) }
	process := p.processBody
	if p.processType != 2 {
		process = constI32(0)
	}
	bodies := [][]byte{
		body(constI32(p.version)...),
		body(constI32(1024)...),
		body(constI32(0)...),
		body(constI32(0)...),
		body(process...),
	}
	for range p.extraFuncs {
		bodies = append(bodies, body(constI32(0)...))
	}
	code := vec(len(bodies), bodies...)
	n := p.nImports
	export := func(nm string, kind byte, idx int) []byte {
		return append(append(name(nm), kind), uleb(uint64(idx))...)
	}
	var exps [][]byte
	for k, nm := range []string{"segue_abi_version", "segue_alloc", "segue_init", "segue_set_param", "segue_process"} {
		if nm != p.skipExport {
			exps = append(exps, export(nm, 0, n+k))
		}
	}
	exps = append(exps, export("memory", 2, 0))
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	out = append(out, section(1, types)...)
	if n > 0 {
		out = append(out, section(2, p.imports)...)
	}
	out = append(out, section(3, funcs)...)
	out = append(out, section(5, vec(1, []byte{0, p.memMin}))...)
	out = append(out, section(7, vec(len(exps), exps...))...)
	out = append(out, section(10, code)...)
	return out
}
