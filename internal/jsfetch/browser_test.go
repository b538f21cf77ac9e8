//go:build !js

package jsfetch_test

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/browsertest"
)

// TestInChromium builds this package's test binary for GOOS=js and runs
// it in Chromium against a loopback server with the routes it uses.
func TestInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a wasm test binary")
	}
	out := browsertest.RunGoTests(t, ".", ".", "TestContextEndsTheFetch", routes(t))
	if !strings.Contains(out, "--- PASS: TestKeepalive") {
		t.Error("TestKeepalive did not pass in Chromium")
	}
}

// routes adds the routes jsfetch_test.go requests.
func routes(t *testing.T) func(*http.ServeMux) {
	return func(mux *http.ServeMux) {
		// /echo answers 201 with the method, every request header as
		// X-Seen-<name>, an empty X-Empty and the request body.
		mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				t.Errorf("echo: %v", err)
			}
			w.Header().Set("X-Empty", "")
			w.Header().Set("X-Method", r.Method)
			for k, v := range r.Header {
				w.Header().Set("X-Seen-"+k, strings.Join(v, ", "))
			}
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(b)
		})
		// /sized/<n> answers n bytes (byte i is i mod 251) with their
		// Content-Length.
		mux.HandleFunc("/sized/{n}", func(w http.ResponseWriter, r *http.Request) {
			n, err := strconv.Atoi(r.PathValue("n"))
			if err != nil || n < 0 || n > 4<<20 {
				http.Error(w, "bad size", http.StatusBadRequest)
				return
			}
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(i % 251)
			}
			w.Header().Set("Content-Length", strconv.Itoa(n))
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
	}
}
