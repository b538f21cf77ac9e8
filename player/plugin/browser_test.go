package plugin_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player/plugin"
)

const browserPage = `<!doctype html><meta charset="utf-8"><title>plugin host</title>
<script type="module">
import { loadPlugin } from "/webhost.js";
window.runPlugin = async (params, block) => {
  const [wasm, input] = await Promise.all(["/plugin.wasm", "/input.f32"].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const fx = await loadPlugin(wasm, 44100, 2, params, { name: "eq" });
  const x = new Float32Array(input);
  for (let off = 0; off < x.length; off += 2 * block) fx.process(x.subarray(off, Math.min(off + 2 * block, x.length)));
  const b = new Uint8Array(x.buffer);
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
};
window.failures = async () => {
  const out = {};
  for (const name of ["v2", "foreign", "junk"]) {
    const wasm = await fetch("/" + name + ".wasm").then((r) => r.arrayBuffer());
    try {
      await loadPlugin(wasm, 44100, 2, [], { name });
      out[name] = "loaded";
    } catch (e) {
      out[name] = e.kind;
    }
  }
  const trap = await loadPlugin(await fetch("/trap.wasm").then((r) => r.arrayBuffer()), 44100, 2, [], { name: "trap" });
  const block = new Float32Array([0.5, -0.5, 0.25, -0.25]);
  for (const k of ["trap1", "trap2"]) {
    try {
      trap.process(block);
      out[k] = "processed";
    } catch (e) {
      out[k] = e.kind;
    }
  }
  out.unchanged = block.join(",") === "0.5,-0.5,0.25,-0.25";
  return out;
};
window.hostReady = true;
</script>`

// The equaliser plugin run in headless Chromium by the browser's
// WebAssembly engine (webhost.js) produces exactly the bytes the native
// host produces under wazero, for the same input (the demo piece and
// noise), settings and blocks. The browser host also refuses a version
// mismatch, a foreign import and junk, and unloads a trapping plugin
// leaving the block unchanged, as the native host does.
func TestBrowserOutputIsNative(t *testing.T) {
	eq := eqWasm(t)
	piece := demoalbum.Synthesize()
	input := append([]float32(nil), piece[:2*3*rate]...)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2 * rate / 2 { // and 0.5 s of noise
		input = append(input, float32(rng.NormFloat64()*0.3))
	}
	in := f32bytes(input)
	params := []plugin.Param{{Key: "preamp", Value: -3.5}, {Key: "band1", Value: 6}, {Key: "band4.gain", Value: -4},
		{Key: "band4.q", Value: 2.5}, {Key: "band6.freq", Value: 1500}, {Key: "band6", Value: 3}, {Key: "band10", Value: -9}}
	const block = 1024

	inst, err := compile(t, sharedRuntime(t, 1024), "eq", eq).Instantiate(context.Background(), rate, 2, params...)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	native := append([]float32(nil), input...)
	processBlocks(t, inst, native, block)
	want := f32bytes(native)
	if bytes.Equal(want, in) {
		t.Fatal("the equaliser left the input unchanged: the test cannot tell")
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, browserPage)
		case "/webhost.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, plugin.WebHostJS)
		case "/plugin.wasm":
			w.Header().Set("Content-Type", "application/wasm")
			w.Write(eq)
		case "/v2.wasm":
			w.Write(abiModule(2, []byte{0x41, 0}))
		case "/foreign.wasm":
			imp := append(append(append([]byte{1}, name("env")...), name("foo")...), 0, 0)
			w.Write(assemble(wasmParts{version: 1, processBody: []byte{0x41, 0}, processType: 2, memMin: 4, imports: imp, nImports: 1}))
		case "/junk.wasm":
			w.Write([]byte("not wasm"))
		case "/trap.wasm":
			w.Write(abiModule(1, []byte{0x00}))
		case "/input.f32":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(in)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := browsertest.New(t)
	var js [][2]any
	for _, p := range params {
		js = append(js, [2]any{p.Key, p.Value})
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.hostReady === true`)); err != nil {
		t.Fatal(err)
	}
	b64, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`runPlugin(%s, %d)`, jsonOf(t, js), block),
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	got, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("browser output %d bytes, native %d", len(got), len(want))
	}
	if !bytes.Equal(got, want) {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("browser output differs from native from byte %d (sample %d)", i, i/4)
			}
		}
	}
	t.Logf("browser == native: %d samples, bit-identical", len(input))

	// The browser host refuses and unloads what the native host does.
	fails, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](`failures()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	wantFails := map[string]any{"v2": "unsupported ABI version", "foreign": "invalid module", "junk": "invalid module",
		"trap1": "trapped", "trap2": "unloaded", "unchanged": true}
	for k, v := range wantFails {
		if fails[k] != v {
			t.Errorf("browser host: %s = %v, want %v (all: %v)", k, fails[k], v, fails)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
