package relay_test

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/relay"
)

func TestOriginRanges(t *testing.T) {
	e := startRelay(t, 3, 10000)
	chunk := e.pub.chunks[1]
	etag := `"` + hex.EncodeToString(func() []byte { h := crypto.BlobHash(chunk); return h[:] }()) + `"`
	const path = "/v1/audio/tr1/high/chunks/1"
	size := len(chunk)
	cases := []struct {
		name      string
		method    string
		hdr       []string
		code      int
		body      []byte // nil: expect an empty body
		contRange string
	}{
		{"full", "GET", nil, 200, chunk, ""},
		{"range", "GET", []string{"Range", "bytes=100-199"}, 206, chunk[100:200], "bytes 100-199/10000"},
		{"open range", "GET", []string{"Range", "bytes=9990-"}, 206, chunk[9990:], "bytes 9990-9999/10000"},
		{"suffix range", "GET", []string{"Range", "bytes=-16"}, 206, chunk[size-16:], "bytes 9984-9999/10000"},
		{"range past end is clamped", "GET", []string{"Range", "bytes=9000-20000"}, 206, chunk[9000:], "bytes 9000-9999/10000"},
		{"if-range matching etag", "GET", []string{"Range", "bytes=0-9", "If-Range", etag}, 206, chunk[:10], "bytes 0-9/10000"},
		{"if-range other etag", "GET", []string{"Range", "bytes=0-9", "If-Range", `"00"`}, 200, chunk, ""},
		{"if-none-match", "GET", []string{"If-None-Match", etag}, 304, nil, ""},
		{"if-none-match other", "GET", []string{"If-None-Match", `"00"`}, 200, chunk, ""},
		{"if-none-match star", "GET", []string{"If-None-Match", "*"}, 304, nil, ""},
		{"unsatisfiable", "GET", []string{"Range", "bytes=10000-"}, 416, []byte("json"), "bytes */10000"},
		{"unsatisfiable bounded", "GET", []string{"Range", "bytes=20000-30000"}, 416, []byte("json"), "bytes */10000"},
		{"unsatisfiable suffix", "GET", []string{"Range", "bytes=-0"}, 416, []byte("json"), "bytes */10000"},
		{"unsatisfiable, first-pos past int64", "GET", []string{"Range", "bytes=99999999999999999999-"}, 416, []byte("json"), "bytes */10000"},
		{"unsatisfiable, if-none-match matching", "GET", []string{"Range", "bytes=10000-", "If-None-Match", etag}, 304, nil, ""},
		{"unsatisfiable, if-range other etag", "GET", []string{"Range", "bytes=10000-", "If-Range", `"00"`}, 200, chunk, ""},
		{"last-pos past int64 is clamped", "GET", []string{"Range", "bytes=9990-99999999999999999999"}, 206, chunk[9990:], "bytes 9990-9999/10000"},
		{"unit in capitals", "GET", []string{"Range", "Bytes=100-199"}, 206, chunk[100:200], "bytes 100-199/10000"},
		{"empty list elements", "GET", []string{"Range", "bytes=, 100-199 ,"}, 206, chunk[100:200], "bytes 100-199/10000"},
		// RFC 9110 §14.2: a Range with an unknown unit is ignored, an invalid
		// one may be: the whole chunk.
		{"unknown unit ignored", "GET", []string{"Range", "items=0-1"}, 200, chunk, ""},
		{"no unit ignored", "GET", []string{"Range", "0-1"}, 200, chunk, ""},
		{"malformed ignored", "GET", []string{"Range", "bytes=abc"}, 200, chunk, ""},
		{"empty range set ignored", "GET", []string{"Range", "bytes="}, 200, chunk, ""},
		{"last-pos before first-pos ignored", "GET", []string{"Range", "bytes=199-100"}, 200, chunk, ""},
		{"signed position ignored", "GET", []string{"Range", "bytes=+100-199"}, 200, chunk, ""},
		{"bare dash ignored", "GET", []string{"Range", "bytes=-"}, 200, chunk, ""},
		{"one malformed range of two ignored", "GET", []string{"Range", "bytes=0-9,x-y"}, 200, chunk, ""},
		{"unknown unit, head", "HEAD", []string{"Range", "items=0-1"}, 200, nil, ""},
		{"head", "HEAD", nil, 200, nil, ""},
		{"head range", "HEAD", []string{"Range", "bytes=0-9"}, 206, nil, "bytes 0-9/10000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(t, c.method, path, nil, e.token, c.hdr...)
			if res.code != c.code {
				t.Fatalf("status %d, want %d (%s)", res.code, c.code, res.body)
			}
			switch {
			case c.code == 416:
				res.errorMessage(t)
				if cc := res.header.Get("Cache-Control"); cc != "no-store" {
					t.Errorf("416 Cache-Control %q, want no-store", cc)
				}
			case !bytes.Equal(res.body, c.body):
				t.Errorf("body %d bytes, want %d", len(res.body), len(c.body))
			}
			if got := res.header.Get("Content-Range"); got != c.contRange {
				t.Errorf("Content-Range %q, want %q", got, c.contRange)
			}
			if c.code == 416 {
				return
			}
			if got := res.header.Get("ETag"); got != etag {
				t.Errorf("ETag %q, want %s", got, etag)
			}
			if got := res.header.Get("Cache-Control"); got != relay.CachePositional {
				t.Errorf("Cache-Control %q", got)
			}
			if c.method == "HEAD" {
				want := size
				if c.code == 206 {
					want = 10
				}
				if got := res.header.Get("Content-Length"); got != strconv.Itoa(want) {
					t.Errorf("HEAD Content-Length %q, want %d", got, want)
				}
			}
		})
	}
}

func TestOriginResolves(t *testing.T) {
	e := startRelay(t, 3, 1000)
	hash := crypto.BlobHash(e.pub.chunks[2])
	hexHash := hex.EncodeToString(hash[:])
	cases := []struct {
		name  string
		path  string
		code  int
		body  []byte
		cache string
	}{
		{"header", "/v1/audio/tr1/high/header", 200, e.pub.header, relay.CachePositional},
		{"chunk 0", "/v1/audio/tr1/high/chunks/0", 200, e.pub.chunks[0], relay.CachePositional},
		{"last chunk", "/v1/audio/tr1/high/chunks/2", 200, e.pub.chunks[2], relay.CachePositional},
		{"blob by hash", "/v1/blobs/" + hexHash, 200, e.pub.chunks[2], relay.CacheImmutable},
		{"chunk past end", "/v1/audio/tr1/high/chunks/3", 404, nil, ""},
		{"huge chunk index", "/v1/audio/tr1/high/chunks/999999", 400, nil, ""},
		{"non-numeric index", "/v1/audio/tr1/high/chunks/one", 400, nil, ""},
		{"negative index", "/v1/audio/tr1/high/chunks/-1", 400, nil, ""},
		{"leading zero", "/v1/audio/tr1/high/chunks/01", 400, nil, ""},
		{"invalid tier", "/v1/audio/tr1/ultra/chunks/0", 400, nil, ""},
		{"tier not published", "/v1/audio/tr1/low/header", 404, nil, ""},
		{"unknown track", "/v1/audio/nope/high/manifest", 404, nil, ""},
		{"unknown blob", "/v1/blobs/" + fmt.Sprintf("%064x", 7), 404, nil, ""},
		{"bad blob hash", "/v1/blobs/xyz", 400, nil, ""},
		{"uppercase blob hash", "/v1/blobs/" + fmt.Sprintf("%064X", 0xABC), 400, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(t, "GET", c.path, nil, e.token)
			if res.code != c.code {
				t.Fatalf("status %d, want %d (%s)", res.code, c.code, res.body)
			}
			if c.code != 200 {
				res.errorMessage(t)
				if res.header.Get("ETag") != "" || res.header.Get("Cache-Control") != "no-store" {
					t.Errorf("error carries ETag %q / Cache-Control %q", res.header.Get("ETag"), res.header.Get("Cache-Control"))
				}
				return
			}
			if !bytes.Equal(res.body, c.body) {
				t.Errorf("body differs")
			}
			if got := res.header.Get("Cache-Control"); got != c.cache {
				t.Errorf("Cache-Control %q, want %q", got, c.cache)
			}
			if got := res.header.Get("Content-Type"); got != "application/octet-stream" {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
}
