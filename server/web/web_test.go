package web_test

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/segue-fm/segue/server/web"
	"github.com/segue-fm/segue/server/web/webgen"
)

func get(t *testing.T, h http.Handler, path, enc string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if enc != "" {
		req.Header.Set("Accept-Encoding", enc)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestServesPageAndAssets checks the page's isolation and caching headers
// and that each encoding of an asset decodes to the bytes the manifest
// hashed.
func TestServesPageAndAssets(t *testing.T) {
	h := web.Handler()
	m, err := web.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	page := get(t, h, "/", "")
	if page.Code != 200 || page.Header().Get("Cross-Origin-Opener-Policy") != "same-origin" ||
		page.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" || page.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET / = %d %v", page.Code, page.Header())
	}
	sw := get(t, h, "/sw.js", "")
	sum := sha256.Sum256(sw.Body.Bytes())
	if sw.Code != 200 || sw.Header().Get("Cache-Control") != "no-cache" || !strings.HasPrefix(sw.Header().Get("Content-Type"), "text/javascript") ||
		sw.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" || hex.EncodeToString(sum[:]) != m.Worker {
		t.Fatalf("GET /sw.js = %d %v (sha256 %x, manifest %s)", sw.Code, sw.Header(), sum, m.Worker)
	}
	for name, hashed := range m.Files {
		if !strings.Contains(page.Body.String(), "/assets/"+hashed) && name != "segue.wasm" && name != "worklet.js" {
			t.Errorf("index.html does not reference %s", hashed)
		}
		if name == "segue.wasm" || name == "worklet.js" {
			if !strings.Contains(page.Body.String(), `"/assets/`+hashed+`"`) {
				t.Errorf("asset list does not name %s", hashed)
			}
		}
		var want []byte
		for _, enc := range []string{"br", "gzip, deflate", "identity", "br;q=0, gzip"} {
			rec := get(t, h, "/assets/"+hashed, enc)
			if rec.Code != 200 || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable") ||
				rec.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" {
				t.Fatalf("GET %s (%s) = %d %v", hashed, enc, rec.Code, rec.Header())
			}
			var r io.Reader = rec.Body
			switch ce := rec.Header().Get("Content-Encoding"); {
			case ce == "br" && strings.HasPrefix(enc, "br") && !strings.Contains(enc, "q=0"):
				r = brotli.NewReader(rec.Body)
			case ce == "gzip" && strings.Contains(enc, "gzip"):
				zr, err := gzip.NewReader(rec.Body)
				if err != nil {
					t.Fatal(err)
				}
				r = zr
			case ce == "" && enc == "identity":
			default:
				t.Fatalf("GET %s with Accept-Encoding %q: Content-Encoding %q", hashed, enc, ce)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want = b
			} else if !bytes.Equal(b, want) {
				t.Fatalf("%s: %s body differs from br body", hashed, enc)
			}
		}
		if got := webgen.Hashed(name, want); got != hashed {
			t.Errorf("%s decodes to content hashed %s", hashed, got)
		}
	}
	if wasm := get(t, h, "/assets/"+m.Files["segue.wasm"], "br"); wasm.Header().Get("Content-Type") != "application/wasm" {
		t.Errorf("wasm Content-Type %q", wasm.Header().Get("Content-Type"))
	} else if n := wasm.Body.Len(); n > 4<<20 {
		t.Errorf("wasm is %d bytes brotli, over the 4 MiB budget", n)
	}
	for _, p := range []string{"/assets/", "/assets/../dist/index.html", "/assets/nope.js", "/x", "/assets/.hidden"} {
		if rec := get(t, h, p, "br"); rec.Code != 404 {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST / = %d", rec.Code)
	}
	req = httptest.NewRequest(http.MethodGet, "/assets/"+m.Files["app.js"], nil)
	req.Header.Set("If-None-Match", `"`+m.Files["app.js"]+`"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Errorf("conditional GET = %d, want 304", rec.Code)
	}
}

// TestDistUpToDate rebuilds the wasm module and recomputes the hashed
// names from wasm/web: the committed dist must match (run
// scripts/build-web.sh after changing the web player). The wasm build is
// reproducible only with the Go release that made dist; with another one
// the test skips, except under CI=true.
func TestDistUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the wasm module")
	}
	m, err := web.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Go != runtime.Version() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("dist was built with %s, this is %s: run scripts/build-web.sh", m.Go, runtime.Version())
		}
		t.Skipf("dist was built with %s, this is %s", m.Go, runtime.Version())
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "segue.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, "./wasm/cmd/segueweb")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build wasm: %v\n%s", err, b)
	}
	bundle := t.TempDir()
	if _, err := os.Stat(filepath.Join(root, "wasm", "playlists", "node_modules")); err != nil && os.Getenv("CI") != "true" {
		t.Log("wasm/playlists/node_modules missing: checking dist's playlists bundle against itself (run wasm/playlists/install.sh)")
		distBundle(t, m, bundle)
	} else {
		cmd := exec.Command("bash", filepath.Join(root, "wasm", "playlists", "build.sh"), bundle)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bundle playlists: %v\n%s", err, b)
		}
	}
	in, err := webgen.Read(filepath.Join(root, "wasm", "web"), out, bundle)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := webgen.Plan(in, runtime.Version())
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range got.Files {
		if m.Files[name] != h {
			t.Errorf("%s: dist has %s, sources give %s: run scripts/build-web.sh", name, m.Files[name], h)
		}
	}
	if got.Index != m.Index {
		t.Errorf("index.html is stale: run scripts/build-web.sh")
	}
	if got.Worker != m.Worker {
		t.Errorf("sw.js is stale: run scripts/build-web.sh")
	}
}

// distBundle writes the Bundled files of the committed dist (from their
// .gz forms) into dir.
func distBundle(t *testing.T, m webgen.Manifest, dir string) {
	t.Helper()
	for _, n := range webgen.Bundled {
		f, err := os.Open(filepath.Join("dist", "assets", m.Files[n]+".gz"))
		if err != nil {
			t.Fatal(err)
		}
		z, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(z)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
