package web_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/server/web"
)

// wasmBudget is issue 11's size goal: the page's WebAssembly as served
// (the engine and Automerge's module), in each encoding the relay
// serves, at most 4 MiB.
const wasmBudget = 4 << 20

// TestWasmSizeBudget adds up the committed dist's compressed wasm
// modules, brotli and gzip (a client that sends only gzip gets the
// latter), and fails past the budget.
func TestWasmSizeBudget(t *testing.T) {
	m, err := web.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, enc := range []string{"br", "gz"} {
		total := int64(0)
		for _, n := range []string{"segue.wasm", "automerge.wasm"} {
			fi, err := os.Stat(filepath.Join("dist", "assets", m.Files[n]+"."+enc))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s.%s: %d bytes", n, enc, fi.Size())
			total += fi.Size()
		}
		t.Logf("wasm as served, %s: %d bytes (%.2f MiB)", enc, total, float64(total)/(1<<20))
		if total > wasmBudget {
			t.Errorf("wasm as served with %s is %d bytes, over the %d-byte budget", enc, total, wasmBudget)
		}
	}
}

// TestWasmLinksNoHTTPTransport: the engine's module sends its requests
// through internal/jsfetch (core/fetch.Doer), so none of net/http's own
// client (connection pool, TLS handshake, HTTP/2) nor package regexp is
// linked. Go keeps every linked function's name in the module's
// function table, even when built with -s -w, so the names tell.
func TestWasmLinksNoHTTPTransport(t *testing.T) {
	m, err := web.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join("dist", "assets", m.Files["segue.wasm"]+".gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := io.ReadAll(z)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mod, []byte("github.com/segue-fm/segue/internal/jsfetch.Client.Do")) {
		t.Fatal("the module's function names do not name jsfetch.Client.Do: cannot tell what it links")
	}
	for _, fn := range []string{
		"net/http.(*Client).Do",
		"net/http.(*Transport).roundTrip",
		"net/http.(*Transport).dialConn",
		"crypto/tls.(*Conn).Handshake",
		"crypto/x509.(*Certificate).Verify",
		"regexp.Compile",
	} {
		if bytes.Contains(mod, []byte(fn)) {
			t.Errorf("the engine's module links %s", fn)
		}
	}
}
