package browsertest

import (
	"encoding/json"
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
)

// RunGoTests builds the Go tests of the package pkg (a path `go test`
// accepts, resolved in dir) for GOOS=js, runs them in a fresh Chromium
// against a loopback server, and fails t unless they exit 0 and their
// verbose output names mustPass as passed. The server serves a blank
// page with Go's wasm_exec.js, the test binary, and whatever routes adds
// (nil: none), so browser-only packages (IndexedDB, fetch) test
// themselves in a real browser. args are added to the test binary's
// arguments (after -test.v), such as -test.bench; with mustPass "" only
// the exit code is checked. It returns the tests' output.
func RunGoTests(t testing.TB, dir, pkg, mustPass string, routes func(*http.ServeMux), args ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pkg.test.wasm")
	cmd := exec.Command("go", "test", "-c", "-o", bin, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s's tests for GOOS=js: %v\n%s", pkg, err, b)
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
	if routes != nil {
		routes(mux)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	ctx := New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Code int    `json:"code"`
		Out  string `json:"out"`
	}
	argv, err := json.Marshal(append([]string{"pkg.test", "-test.v"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
		const out = [];
		const log = console.log;
		console.log = (...a) => { out.push(a.join(" ")); log(...a); };
		const go = new Go();
		go.argv = `+string(argv)+`;
		let code = -1;
		go.exit = (c) => { code = c; };
		const { instance } = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
		await go.run(instance);
		return { code, out: out.join("\n") };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("run %s's tests in Chromium: %v", pkg, err)
	}
	t.Logf("%s in Chromium:\n%s", pkg, res.Out)
	if res.Code != 0 || mustPass != "" && !strings.Contains(res.Out, "--- PASS: "+mustPass) {
		t.Fatalf("%s's tests in Chromium exited %d (want 0 with %s passed)", pkg, res.Code, mustPass)
	}
	return res.Out
}
