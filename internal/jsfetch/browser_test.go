//go:build !js

package jsfetch_test

import (
	"compress/gzip"
	"fmt"
	"io"
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

// TestInChromium builds this package's test binary for GOOS=js and runs
// it in Chromium against a loopback server with the routes it uses.
func TestInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	bin := filepath.Join(t.TempDir(), "jsfetch.test.wasm")
	cmd := exec.Command("go", "test", "-c", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build test binary: %v\n%s", err, b)
	}
	srv := httptest.NewServer(routes(t, bin))
	defer srv.Close()

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Code int    `json:"code"`
		Out  string `json:"out"`
	}
	res, err := chromedp.Run(ctx, chromedp.Evaluate[result](`(async () => {
		const out = [];
		const log = console.log;
		console.log = (...a) => { out.push(a.join(" ")); log(...a); };
		const go = new Go();
		go.argv = ["jsfetch.test", "-test.v"];
		let code = -1;
		go.exit = (c) => { code = c; };
		const { instance } = await WebAssembly.instantiateStreaming(fetch("/test.wasm"), go.importObject);
		await go.run(instance);
		return { code, out: out.join("\n") };
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("in Chromium:\n%s", res.Out)
	if res.Code != 0 || !strings.Contains(res.Out, "--- PASS: TestContextEndsTheFetch") {
		t.Fatalf("jsfetch tests in Chromium exited %d", res.Code)
	}
}

// routes serves the test page, Go's wasm_exec.js, the test binary and
// the routes jsfetch_test.go requests.
func routes(t *testing.T, bin string) http.Handler {
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
	// /echo answers 201 with the method, every request header as
	// X-Seen-<name> and the request body.
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("echo: %v", err)
		}
		w.Header().Set("X-Method", r.Method)
		for k, v := range r.Header {
			w.Header().Set("X-Seen-"+k, strings.Join(v, ", "))
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/status/404", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"nope"}`, http.StatusNotFound)
	})
	// /big streams 4 MiB (byte i is i mod 251) with no Content-Length.
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for off := 0; off < 4<<20; off += len(buf) {
			for i := range buf {
				buf[i] = byte((off + i) % 251)
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		z := gzip.NewWriter(w)
		_, _ = io.WriteString(z, strings.Repeat("segue ", 1000))
		_ = z.Close()
	})
	// /hang never answers; /slow sends "first" and then nothing, each
	// until the client goes away.
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	return mux
}
