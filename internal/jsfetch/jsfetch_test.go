//go:build js && wasm

package jsfetch_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall/js"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/jsfetch"
)

// These tests run inside Chromium (browser_test.go builds this package's
// test binary for GOOS=js and serves it with the routes used here).

var origin = js.Global().Get("location").Get("origin").String()

func do(t *testing.T, ctx context.Context, method, path string, body io.Reader, h http.Header) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, origin+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	return jsfetch.Client{}.Do(req)
}

func TestRequestAndResponse(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		body         string
		header       http.Header
	}{
		{"get", http.MethodGet, "", http.Header{"Authorization": {"Bearer tok"}}},
		{"post json", http.MethodPost, `{"a":1}`, http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}},
		{"put empty", http.MethodPut, "", nil},
		{"delete", http.MethodDelete, "", http.Header{"X-Two": {"a", "b"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			resp, err := do(t, t.Context(), tc.method, "/echo", body, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusCreated || resp.Status != "201 Created" {
				t.Errorf("status %d %q", resp.StatusCode, resp.Status)
			}
			if v, ok := resp.Header["X-Empty"]; !ok || len(v) != 1 || v[0] != "" {
				t.Errorf("empty header read as %q (present %v)", v, ok)
			}
			if resp.Header.Get("X-Method") != tc.method {
				t.Errorf("server saw method %q", resp.Header.Get("X-Method"))
			}
			for k, v := range tc.header {
				if seen := resp.Header.Get("X-Seen-" + k); seen != strings.Join(v, ", ") {
					t.Errorf("server saw %s %q, sent %q", k, seen, v)
				}
			}
			if string(got) != tc.body {
				t.Errorf("echoed body %q, sent %q", got, tc.body)
			}
			if resp.ContentLength != int64(len(tc.body)) {
				t.Errorf("ContentLength %d, want %d", resp.ContentLength, len(tc.body))
			}
		})
	}
}

func TestErrorStatusIsAResponse(t *testing.T) {
	resp, err := do(t, t.Context(), http.MethodGet, "/status/404", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 404 || !bytes.Contains(b, []byte(`"error"`)) {
		t.Fatalf("got %d %q", resp.StatusCode, b)
	}
}

// TestLargeStreamedBody reads 4 MiB sent without a Content-Length, whole
// and then only a bounded prefix.
func TestLargeStreamedBody(t *testing.T) {
	readPattern(t, "/big", -1, 4<<20)
	resp, err := do(t, t.Context(), http.MethodGet, "/big", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1001))
	if err != nil || len(b) != 1001 {
		t.Fatalf("bounded read: %d bytes, %v", len(b), err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Body.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after Close succeeded")
	}
}

// TestDeclaredLengths: bodies of a declared length, read whole (up to
// WholeBodyMax) or streamed (above), arrive byte for byte, and one closed
// unread ends without error and reads no more.
func TestDeclaredLengths(t *testing.T) {
	for _, n := range []int{0, 1, 1000, jsfetch.WholeBodyMax, jsfetch.WholeBodyMax + 1} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			path := "/sized/" + strconv.Itoa(n)
			readPattern(t, path, int64(n), n)
			resp, err := do(t, t.Context(), http.MethodGet, path, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := resp.Body.Close(); err != nil {
				t.Fatal(err)
			}
			if k, err := resp.Body.Read(make([]byte, 1)); k != 0 || err == nil {
				t.Fatalf("read after Close: %d bytes, %v", k, err)
			}
		})
	}
}

// readPattern reads path's body whole and checks its declared length
// (contentLength, -1 for none), its length n and its bytes (i mod 251).
func readPattern(t *testing.T, path string, contentLength int64, n int) {
	t.Helper()
	resp, err := do(t, t.Context(), http.MethodGet, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != contentLength || len(b) != n {
		t.Fatalf("ContentLength %d, read %d bytes, want %d and %d", resp.ContentLength, len(b), contentLength, n)
	}
	for i, c := range b {
		if c != byte(i%251) {
			t.Fatalf("byte %d is %d", i, c)
		}
	}
}

// TestCompressedBody: the browser decodes gzip; the response says so.
func TestCompressedBody(t *testing.T) {
	resp, err := do(t, t.Context(), http.MethodGet, "/gzip", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != strings.Repeat("segue ", 1000) || !resp.Uncompressed || resp.ContentLength != -1 ||
		resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("%d bytes, Uncompressed %v, ContentLength %d, %v", len(b), resp.Uncompressed, resp.ContentLength, resp.Header)
	}
}

// TestContextEndsTheFetch: a context that ends before the answer, or
// while its body is read, ends the call at once with the context's error.
func TestContextEndsTheFetch(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := do(t, ctx, http.MethodGet, "/hang", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before the answer: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("returned after %v", d)
	}

	ctx, cancel = context.WithCancel(t.Context())
	resp, err := do(t, ctx, http.MethodGet, "/slow", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
		t.Fatalf("first chunk %q, %v", first, err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("while reading the body: %v", err)
	}

	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	if _, err := do(t, ctx, http.MethodGet, "/echo", strings.NewReader("x"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
}

func TestNetworkFailure(t *testing.T) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (jsfetch.Client{}).Do(req); !errors.Is(err, jsfetch.ErrFetchFailed) {
		t.Fatalf("refused connection: %v", err)
	}
}

// TestKeepalive: a request whose context is marked by WithKeepalive is
// sent with fetch's keepalive, and Chromium takes a body of KeepaliveMax
// bytes so; one byte more is ErrKeepaliveBody and nothing is fetched. An
// unmarked request is not keepalive.
func TestKeepalive(t *testing.T) {
	var seen []bool
	orig := js.Global().Get("fetch")
	spy := js.FuncOf(func(_ js.Value, a []js.Value) any {
		seen = append(seen, len(a) > 1 && a[1].Get("keepalive").Truthy())
		return orig.Invoke(a[0], a[1])
	})
	js.Global().Set("fetch", spy)
	defer func() { js.Global().Set("fetch", orig); spy.Release() }()
	for _, tc := range []struct {
		name      string
		keepalive bool
		size      int
		err       error
	}{
		{"plain", false, jsfetch.KeepaliveMax + 1, nil},
		{"keepalive", true, 100, nil},
		{"keepalive at the limit", true, jsfetch.KeepaliveMax, nil},
		{"keepalive over the limit", true, jsfetch.KeepaliveMax + 1, jsfetch.ErrKeepaliveBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			if tc.keepalive {
				ctx = jsfetch.WithKeepalive(ctx)
			}
			seen = nil
			res, err := do(t, ctx, http.MethodPost, "/echo", bytes.NewReader(make([]byte, tc.size)), nil)
			if !errors.Is(err, tc.err) {
				t.Fatalf("Do = %v, want %v", err, tc.err)
			}
			if err != nil {
				if len(seen) != 0 {
					t.Fatalf("fetched %d times, want none", len(seen))
				}
				return
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != http.StatusCreated || len(b) != tc.size {
				t.Fatalf("answer %d, %d bytes, %v; want 201 echoing %d", res.StatusCode, len(b), err, tc.size)
			}
			if len(seen) != 1 || seen[0] != tc.keepalive {
				t.Fatalf("fetch keepalive %v, want [%v]", seen, tc.keepalive)
			}
		})
	}
}
