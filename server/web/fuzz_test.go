package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/web"
)

// FuzzServe sends arbitrary paths and Accept-Encoding values: the handler
// never panics, always sets the isolation headers, and answers 200 only
// for the page and the manifest's assets.
func FuzzServe(f *testing.F) {
	m, err := web.Manifest()
	if err != nil {
		f.Fatal(err)
	}
	known := map[string]bool{"/": true, "/index.html": true}
	for _, h := range m.Files {
		known["/assets/"+h] = true
		f.Add("/assets/"+h, "br;q=0.5, gzip;q=0")
	}
	f.Add("/assets/../x", "gzip")
	f.Add("/", "br;q=abc,,;")
	h := web.Handler()
	f.Fuzz(func(t *testing.T, path, enc string) {
		u, err := url.Parse("http://relay" + path)
		if err != nil || !strings.HasPrefix(path, "/") {
			return
		}
		req := httptest.NewRequest(http.MethodGet, "http://relay/", nil)
		req.URL = u
		req.Header.Set("Accept-Encoding", enc)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Header().Get("Cross-Origin-Embedder-Policy") != "require-corp" {
			t.Fatalf("%s: no COEP header", path)
		}
		if rec.Code == http.StatusOK && !known[req.URL.Path] {
			t.Fatalf("%s served 200", path)
		}
	})
}
