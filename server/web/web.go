package web

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/server/web/webgen"
)

//go:embed dist
var dist embed.FS

// Security headers on every answer of the web player.
var headers = map[string]string{
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Embedder-Policy": "require-corp",
	"Cross-Origin-Resource-Policy": "same-origin",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Content-Security-Policy": "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; " +
		"connect-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
}

// Manifest returns the embedded build's manifest (hashed names, SHA-256
// of each asset, Go version).
func Manifest() (webgen.Manifest, error) {
	var m webgen.Manifest
	b, err := dist.ReadFile("dist/manifest.json")
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}

// Handler serves the page, its service worker and its assets. Paths
// other than /, /index.html, /sw.js and /assets/<hashed name> are 404.
func Handler() http.Handler { return http.HandlerFunc(serve) }

// Mount adds the web player's routes (GET and HEAD of /, /index.html,
// /sw.js and /assets/*) to the relay's Echo instance.
func Mount(e *echo.Echo) {
	h := echo.WrapHandler(Handler())
	for _, p := range []string{"/", "/index.html", "/sw.js", "/assets/*"} {
		e.GET(p, h)
		e.HEAD(p, h)
	}
}

func serve(w http.ResponseWriter, r *http.Request) {
	for k, v := range headers {
		w.Header().Set(k, v)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	switch p := r.URL.Path; {
	case p == "/" || p == "/index.html":
		b, err := dist.ReadFile("dist/index.html")
		if err != nil {
			http.Error(w, "web player not built", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	case p == "/sw.js":
		worker(w, r)
	case strings.HasPrefix(p, "/assets/"):
		asset(w, r, strings.TrimPrefix(p, "/assets/"))
	default:
		http.NotFound(w, r)
	}
}

// worker serves the service worker (not hashed: its URL is its identity;
// no-cache, so a new build's worker is picked up on the next visit).
func worker(w http.ResponseWriter, r *http.Request) {
	b, err := dist.ReadFile("dist/" + webgen.Worker)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(b)
	}
}

// asset serves one hashed asset in the best encoding the client accepts.
func asset(w http.ResponseWriter, r *http.Request, name string) {
	if name == "" || strings.ContainsAny(name, "/\\") || strings.HasPrefix(name, ".") {
		http.NotFound(w, r)
		return
	}
	base := "dist/assets/" + name
	br, errBr := dist.ReadFile(base + ".br")
	gz, errGz := dist.ReadFile(base + ".gz")
	if errBr != nil || errGz != nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".wasm":
		ctype = "application/wasm"
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	}
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Vary", "Accept-Encoding")
	h.Set("ETag", `"`+name+`"`)
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, `"`+name+`"`) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	var body []byte
	switch enc := acceptedEncodings(r.Header.Get("Accept-Encoding")); {
	case enc["br"]:
		h.Set("Content-Encoding", "br")
		body = br
	case enc["gzip"]:
		h.Set("Content-Encoding", "gzip")
		body = gz
	default:
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err == nil {
			body, err = io.ReadAll(zr)
		}
		if err != nil {
			http.Error(w, "corrupt asset", http.StatusInternalServerError)
			return
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// acceptedEncodings parses Accept-Encoding, leaving out codings with q=0.
func acceptedEncodings(v string) map[string]bool {
	out := map[string]bool{}
	for part := range strings.SplitSeq(v, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f <= 0 {
				continue
			}
		}
		if name != "" {
			out[name] = true
		}
	}
	return out
}
