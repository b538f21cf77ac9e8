package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
)

// TestIndexedDBConformance builds wasm/idbstore's test binary for GOOS=js
// and runs it in Chromium: the IndexedDB store must pass the
// store/storetest conformance suite the native backends pass.
func TestIndexedDBConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "idbstore.test.wasm")
	cmd := exec.Command("go", "test", "-c", "-o", bin, "./wasm/idbstore")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test binary: %v\n%s", err, b)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><script src="/wasm_exec.js"></script>`)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(runtime.GOROOT(), "lib", "wasm", "wasm_exec.js"))
	})
	mux.HandleFunc("/test.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, bin)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := browsertest.New(t)
	type result struct {
		Code int    `json:"code"`
		Out  string `json:"out"`
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	got := run[result](t, ctx, `(async () => {
		const out = [];
		const log = console.log;
		console.log = (...a) => { out.push(a.join(" ")); log(...a); };
		const go = new Go();
		go.argv = ["idbstore.test", "-test.v"];
		let code = -1;
		go.exit = (c) => { code = c; };
		const { instance } = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
		await go.run(instance);
		return { code, out: out.join("\n") };
	})()`)
	t.Logf("in Chromium:\n%s", got.Out)
	if got.Code != 0 || !strings.Contains(got.Out, "--- PASS: TestConformance") {
		t.Fatalf("conformance suite in Chromium exited %d", got.Code)
	}
}
