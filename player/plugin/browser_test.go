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
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player/plugin"
)

const browserPage = `<!doctype html><meta charset="utf-8"><title>plugin host</title>
<script type="module">
import { loadPlugin, loadPluginInWorker } from "/webhost.js";
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
// runPluginInWorker is runPlugin through the bounded (Worker) host.
window.runPluginInWorker = async (params, block) => {
  const [wasm, input] = await Promise.all(["/plugin.wasm", "/input.f32"].map((u) => fetch(u).then((r) => r.arrayBuffer())));
  const fx = await loadPluginInWorker(wasm, 44100, 2, params, { name: "eq", blockTimeoutMs: 30000, setupTimeoutMs: 30000 });
  const x = new Float32Array(input);
  for (let off = 0; off < x.length; off += 2 * block) await fx.process(x.subarray(off, Math.min(off + 2 * block, x.length)));
  fx.close();
  const b = new Uint8Array(x.buffer);
  let s = "";
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return btoa(s);
};
// play feeds 8 blocks through the Worker-hosted plugin as a player does:
// a block the effect fails is left as it was, the effect is removed and
// the rest play unprocessed. It reports the blocks delivered and
// unchanged, the error, how long the failing call took, and how often a
// 10 ms timer ticked meanwhile (the page's thread stays free).
window.play = async (name, blockTimeoutMs, params) => {
  const wasm = await fetch("/" + name + ".wasm").then((r) => r.arrayBuffer());
  let fx = await loadPluginInWorker(wasm, 44100, 2, params, { name, blockTimeoutMs, setupTimeoutMs: 30000 });
  let delivered = 0, unchanged = 0, error = "", kind = "", took = 0, ticks = 0;
  for (let i = 0; i < 8; i++) {
    const block = new Float32Array(2048).map((_, j) => Math.sin(i + j / 50) / 2);
    const orig = block.slice();
    if (fx) {
      const timer = setInterval(() => ticks++, 10);
      const t0 = performance.now();
      try {
        await fx.process(block);
      } catch (e) {
        took = performance.now() - t0;
        error = e.message; kind = e.kind;
        fx = null;
      } finally {
        clearInterval(timer);
      }
    }
    delivered++;
    if (block.every((v, j) => v === orig[j])) unchanged++;
  }
  return { delivered, unchanged, error, kind, took, ticks };
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
		case "/loop.wasm": // loop br 0 end; i32.const 0
			w.Write(abiModule(1, []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x41, 0x00}))
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

	// The bounded host (a Worker) gives the same bytes.
	b64, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`runPluginInWorker(%s, %d)`, jsonOf(t, js), block),
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := base64.StdEncoding.DecodeString(b64); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the Worker host's output differs from native (%d bytes, %v)", len(got), err)
	}
	t.Logf("browser (Worker host) == native: bit-identical")

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

// The Worker host bounds a plugin's time as the native host does: a
// looping plugin (hand-assembled, and a Go plugin's endless loop) is
// stopped at its block deadline (the Worker terminated) while the page's
// thread stays free, a trapping or panicking one is unloaded; either way the failed block is left unchanged, the error
// names the failure, and the player's further blocks play unprocessed.
func TestBrowserWorkerHostBounds(t *testing.T) {
	bad := badWasm(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, browserPage)
		case "/webhost.js":
			w.Header().Set("Content-Type", "text/javascript")
			fmt.Fprint(w, plugin.WebHostJS)
		case "/trap.wasm":
			w.Header().Set("Content-Type", "application/wasm")
			w.Write(abiModule(1, []byte{0x00}))
		case "/loop.wasm": // loop br 0 end; i32.const 0
			w.Header().Set("Content-Type", "application/wasm")
			w.Write(abiModule(1, []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x41, 0x00}))
		case "/bad.wasm": // testdata/bad, a Go plugin: mode 1 loops, mode 2 panics "boom"
			w.Header().Set("Content-Type", "application/wasm")
			w.Write(bad)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`window.hostReady === true`)); err != nil {
		t.Fatal(err)
	}
	type played struct {
		Delivered int     `json:"delivered"`
		Unchanged int     `json:"unchanged"`
		Error     string  `json:"error"`
		Kind      string  `json:"kind"`
		Took      float64 `json:"took"`
		Ticks     int     `json:"ticks"`
	}
	const bound = 250 // ms, the native default
	for _, c := range []struct {
		name    string
		mode    int // the bad plugin's; 0: no parameter
		timeout int
		kind    string
		message string
	}{
		{"loop", 0, bound, "timeout", "ran past its 250 ms bound"},
		{"bad", 1, bound, "timeout", "ran past its 250 ms bound"},
		{"trap", 0, 30000, "trapped", "unreachable"},
		{"bad", 2, 30000, "trapped", "boom"},
	} {
		params := "[]"
		if c.mode != 0 {
			params = fmt.Sprintf(`[["mode", %d]]`, c.mode)
		}
		got, err := chromedp.Run(ctx, chromedp.Evaluate[played](fmt.Sprintf(`play(%q, %d, %s)`, c.name, c.timeout, params), chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (mode %d): %+v", c.name, c.mode, got)
		if got.Delivered != 8 || got.Unchanged != 8 {
			t.Errorf("%s: %d blocks delivered, %d unchanged; want all 8 played on, unprocessed", c.name, got.Delivered, got.Unchanged)
		}
		if got.Kind != c.kind || !strings.Contains(got.Error, c.message) || !strings.Contains(got.Error, c.name) {
			t.Errorf("%s: error %q (%s), want kind %s naming the plugin and %q", c.name, got.Error, got.Kind, c.kind, c.message)
		}
		if c.kind == "timeout" && (got.Took < bound || got.Took > bound+10000 || got.Ticks == 0) {
			t.Errorf("loop: stopped after %.0f ms with %d timer ticks meanwhile; want ≥ %d ms, within 10 s, the page's thread free", got.Took, got.Ticks, bound)
		}
	}
}
