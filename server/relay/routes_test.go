package relay_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestWrongMethod: on the relay's own routes, a route added with Mount
// and the admin ingest route, a known path asked with another method is
// 405 with an Allow header, whatever token the request carries (device,
// admin or none); an unknown path is 404; a route added with Mount
// still needs a device token.
func TestWrongMethod(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.MountIngest(relay.DefaultIngestOptions())
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.PUT("/test/mounted", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
				})
			})
		})
	cases := []struct {
		name, method, path, token string
		code                      int
		allow                     string
	}{
		{"signup asked with GET", "GET", "/v1/accounts", e.token, 405, "OPTIONS, POST"},
		{"signup asked with GET, no token", "GET", "/v1/accounts", "", 405, "OPTIONS, POST"},
		{"registration asked with PUT", "PUT", "/v1/devices", "", 405, "OPTIONS, POST"},
		{"stream key asked with PUT", "PUT", "/v1/keys/stream", e.token, 405, "OPTIONS, POST"},
		{"stream key asked with PUT, no token", "PUT", "/v1/keys/stream", "", 405, "OPTIONS, POST"},
		{"me asked with DELETE", "DELETE", "/v1/me", e.token, 405, "OPTIONS, GET"},
		{"track asked with POST", "POST", "/v1/tracks/tr1", e.token, 405, "OPTIONS, GET"},
		{"chunk asked with PUT", "PUT", "/v1/audio/tr1/high/chunks/0", e.token, 405, "OPTIONS, GET, HEAD"},
		{"mounted route asked with GET", "GET", "/v1/test/mounted", e.token, 405, "OPTIONS, PUT"},
		{"admin ingest asked with GET", "GET", "/v1/admin/ingest", adminToken, 405, "OPTIONS, POST"},
		{"metrics asked with POST", "POST", "/metrics", adminToken, 405, "OPTIONS, GET"},
		{"options", "OPTIONS", "/v1/me", "", 204, "OPTIONS, GET"},
		{"health asked with HEAD", "HEAD", "/healthz", "", 200, ""},
		{"health asked with POST", "POST", "/healthz", "", 405, "OPTIONS, GET, HEAD"},
		{"unknown path", "GET", "/v1/nope", e.token, 404, ""},
		{"unknown path, no token", "GET", "/v1/nope", "", 404, ""},
		{"unknown path, admin token", "POST", "/v1/admin/nope", adminToken, 404, ""},
		{"unknown path under a route", "GET", "/v1/tracks/tr1/nope", e.token, 404, ""},
		{"mounted route", "PUT", "/v1/test/mounted", e.token, 204, ""},
		{"mounted route, no token", "PUT", "/v1/test/mounted", "", 401, ""},
		{"mounted route, admin token", "PUT", "/v1/test/mounted", adminToken, 401, ""},
		{"admin ingest, device token", "POST", "/v1/admin/ingest", e.token, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, tc.method, tc.path, nil, tc.token)
			if res.code != tc.code || res.header.Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q, want %d Allow %q: %s", res.code, res.header.Get("Allow"), tc.code, tc.allow, res.body)
			}
			if tc.code == 405 && tc.method != "HEAD" {
				if msg := res.errorMessage(t); msg != "Method Not Allowed" {
					t.Errorf("error %q", msg)
				}
			}
		})
	}
}

// TestAuthenticatedAnswersPrivate: every answer to a device token is
// Cache-Control "private, no-store" with nosniff unless its handler says
// otherwise (a mounted route that sets nothing, /v1/me); the audio routes keep their public caching
// and the metadata their "private, no-cache".
func TestAuthenticatedAnswersPrivate(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.GET("/test/mine", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"q": "mine"}) })
				})
			})
		})
	manifest := "/v1/audio/" + string(e.pub.track.ID) + "/" + string(e.pub.tier) + "/manifest"
	for _, tc := range []struct{ path, query, cache string }{
		{"/v1/test/mine", "", relay.CachePrivate},
		{"/v1/me", "", relay.CachePrivate},
		{manifest, "", relay.CachePositional},
		{"/v1/tracks/" + string(e.pub.track.ID), "", "private, no-cache"},
	} {
		token := e.token
		if tc.query != "" {
			token = ""
		}
		res := e.do(t, "GET", tc.path+tc.query, nil, token)
		if res.code != http.StatusOK || res.header.Get("Cache-Control") != tc.cache || res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d Cache-Control %q nosniff %q, want 200 %q nosniff", tc.path, res.code,
				res.header.Get("Cache-Control"), res.header.Get("X-Content-Type-Options"), tc.cache)
		}
	}
}

// TestQueryStrings: a query string the relay cannot read in full (a bad
// %-escape, a ';' separator, more parameters than net/url parses) or
// that names one parameter twice is 400 naming the problem, on the
// relay's own routes and on mounted ones, before any handler reads it.
// Before, net/url dropped what it could not parse and the first of two
// values won, so a search for "harbour%zz" answered 200 with no results
// for the query "", a bad limit was replaced by the default, and an
// admin's per-country count with a bad country answered the world total.
func TestQueryStrings(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.GET("/test/query", func(c echo.Context) error { return c.String(http.StatusOK, c.QueryParam("x")) })
				})
			})
		})
	many := "?" + strings.Repeat("y=1&", 10_000) + "x=1"
	cases := []struct {
		name, path, token string
		code              int
		want              string // the answer's body, or what its error message contains
	}{
		{"plain", "/v1/test/query?x=a%20b", e.token, 200, "a b"},
		{"empty value", "/v1/test/query?x=", e.token, 200, ""},
		{"empty pairs", "/v1/test/query?&&x=c&", e.token, 200, "c"},
		{"no query", "/v1/test/query", e.token, 200, ""},
		{"bad escape", "/v1/test/query?x=harbour%zz", e.token, 400, `invalid URL escape "%zz"`},
		{"bad escape in another parameter", "/v1/test/query?x=a&limit=%zz", e.token, 400, `invalid URL escape "%zz"`},
		{"semicolon", "/v1/test/query?x=a;b", e.token, 400, "semicolon"},
		{"too many parameters", "/v1/test/query" + many, e.token, 400, "number of URL query parameters exceeded limit"},
		{"parameter twice", "/v1/test/query?x=a&x=b", e.token, 400, `query parameter "x" given 2 times`},
		{"parameter twice, one empty", "/v1/test/query?x=&x=b", e.token, 400, `query parameter "x" given 2 times`},
		{"token twice", "/v1/me?token=" + e.token + "&token=x", "", 400, `query parameter "token" given 2 times`},
		{"relay route, bad escape", "/v1/me?token=%zz", e.token, 400, `invalid URL escape "%zz"`},
		{"relay route, query token", "/v1/me?token=" + e.token, "", 401, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, "GET", tc.path, nil, tc.token)
			if res.code != tc.code {
				t.Fatalf("status %d, want %d: %.200s", res.code, tc.code, res.body)
			}
			switch {
			case tc.code == 400:
				if msg := res.errorMessage(t); !strings.Contains(msg, tc.want) {
					t.Fatalf("error %q, want it to say %q", msg, tc.want)
				}
			case strings.HasPrefix(tc.path, "/v1/test/") && string(res.body) != tc.want:
				t.Fatalf("handler read x=%q, want %q", res.body, tc.want)
			}
		})
	}
}

// TestAuthorizationOnce: a request with more than one Authorization
// header is 400 naming it, on device, admin and open routes, before any
// credential check. Before, the first header won: ada's token followed by
// bob's was served as ada, bob's followed by ada's as bob, so a proxy or
// edge that checked the other header authorised someone else.
func TestAuthorizationOnce(t *testing.T) {
	e := startRelay(t, 1, 100)
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "correct horse"}, adminToken); res.code != 201 {
		t.Fatalf("sign up: %d %s", res.code, res.body)
	}
	res := e.do(t, "POST", "/v1/devices", e.registration("bob", "correct horse", newIdentity(t), e.clock.Now()), "")
	var bob struct{ Token string }
	res.json(t, &bob)
	for _, tc := range []struct {
		name, method, path string
		auth               []string
		code               int
	}{
		{"one token", "GET", "/v1/me", []string{"Bearer " + e.token}, 200},
		{"two tokens", "GET", "/v1/me", []string{"Bearer " + e.token, "Bearer " + bob.Token}, 400},
		{"two tokens, other order", "GET", "/v1/me", []string{"Bearer " + bob.Token, "Bearer " + e.token}, 400},
		{"the same token twice", "GET", "/v1/me", []string{"Bearer " + e.token, "Bearer " + e.token}, 400},
		{"an empty one first", "GET", "/v1/me", []string{"", "Bearer " + e.token}, 400},
		{"admin route", "GET", "/metrics", []string{"Bearer " + adminToken, "Bearer " + e.token}, 400},
		{"open route", "GET", "/healthz", []string{"Bearer x", "Bearer y"}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, e.base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tc.code, body)
			}
			if tc.code == 400 {
				r := response{code: resp.StatusCode, body: body}
				if msg := r.errorMessage(t); !strings.Contains(msg, "Authorization header given 2 times") {
					t.Fatalf("error %q, want it to name the repeated Authorization header", msg)
				}
			}
		})
	}
}

// TestHeaderLimit: request headers over relay.MaxHeaderBytes are 431
// before any handler. Before, the relay took
// net/http's default of 1 MiB: 300 connections each holding one
// unfinished 1 MiB header line grew a real segue relay's RSS by 630 MB,
// so its 16,384 connections could hold tens of GB.
func TestHeaderLimit(t *testing.T) {
	e := startRelay(t, 1, 100)
	for _, tc := range []struct {
		name string
		size int
		code int
	}{
		{"small", 1 << 10, http.StatusOK},
		{"at the limit", relay.MaxHeaderBytes - 1024, http.StatusOK},
		{"over it", 64 << 10, http.StatusRequestHeaderFieldsTooLarge},
		{"1 MiB", 1 << 20, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			// The relay answers 431 without reading the rest: the request
			// is written while the answer is read.
			go io.WriteString(conn, "GET /v1/me HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer "+e.token+
				"\r\nX-Pad: "+strings.Repeat("a", tc.size)+"\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.code)
			}
		})
	}
}

// TestChunkedRequestClosesConnection: a request with a chunked body over
// HTTP/1.1, whether or not it also names a Content-Length, is answered
// and its connection closed, as RFC 9112 §6.3 requires of a server
// receiving both (net/http drops the Content-Length before the relay
// sees it, so every chunked request is treated so). Before, the relay
// answered and kept the connection open for the next request, which a
// proxy in front that framed the body by its Content-Length would have
// sent differently: the opening of request smuggling.
func TestChunkedRequestClosesConnection(t *testing.T) {
	e := startRelay(t, 1, 100)
	body := `{"ids":["x"]}`
	// A large chunked upload refused before its body is read (no token)
	// still gets its answer, not a reset connection.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for range 64 {
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, err := http.NewRequest("POST", e.base+"/v1/tracks/batch", pr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("refused chunked upload: %v, want its 401", err)
	}
	resp.Body.Close()
	pr.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("refused chunked upload: %d, want 401", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, framing string
		closes        bool
	}{
		{"content length", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body), false},
		{"chunked", fmt.Sprintf("Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), body), true},
		{"both", fmt.Sprintf("Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(body), len(body), body), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, "POST /v1/tracks/batch HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer "+e.token+
				"\r\nContent-Type: application/json\r\n"+tc.framing); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || res.Close != tc.closes {
				t.Fatalf("status %d, Connection: close %v; want 200, %v", res.StatusCode, res.Close, tc.closes)
			}
			if tc.closes {
				if _, err := br.ReadByte(); err != io.EOF {
					t.Fatalf("connection still open after the answer (read: %v)", err)
				}
			}
		})
	}
}

// TestPercentEncodedPaths: a path whose unreserved characters are
// percent-encoded names the same resource as the plain path (RFC 3986
// §6.2.2.2), and an encoded slash or dot stays part of its segment.
// Before, Echo routed on the path as sent and handed the route's
// parameters over undecoded: /v1/tracks/%74r1 looked up the track
// "%74r1" (404) and /v1/%6De matched no route.
func TestPercentEncodedPaths(t *testing.T) {
	e := startRelay(t, 1, 100)
	for _, tc := range []struct {
		name, path string
		code       int
	}{
		{"plain", "/v1/tracks/tr1", 200},
		{"encoded letter in a parameter", "/v1/tracks/%74r1", 200},
		{"encoded digit, lower-case hex", "/v1/tracks/tr%31", 200},
		{"encoded letter in the route", "/v1/%6De", 200},
		{"encoded tier", "/v1/audio/tr1/%68igh/manifest", 200},
		{"encoded slash stays in its segment", "/v1/tracks%2ftr1", 404},
		{"encoded slash in a parameter", "/v1/tracks/tr1%2Fx", 404},
		{"encoded dots", "/v1/tracks/%2e%2e", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, "GET", tc.path, nil, e.token)
			if res.code != tc.code {
				t.Fatalf("status %d, want %d: %.200s", res.code, tc.code, res.body)
			}
		})
	}
}

// TestQueryTokenOnlyOnStreams: the device token is taken from ?token=
// only on the routes browsers open without headers, the sync WebSocket
// (426 here: authorised, then asked to upgrade) and the LongLived routes
// (EventSource); on every other route, the relay's own and mounted ones,
// a valid token in the URL is 401 as if absent, and the same token in the
// header is served. Before, ?token= worked on every route, so clients
// could put tokens in URLs that browser history, Referer headers and
// proxy logs keep.
func TestQueryTokenOnlyOnStreams(t *testing.T) {
	ok := func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.GET("/test/stream", ok)
					v1.GET("/test/plain", ok)
					v1.POST("/test/plain", ok)
				})
				srv.LongLived("/v1/test/stream")
			})
		})
	q := "?token=" + url.QueryEscape(e.token)
	for _, tc := range []struct {
		method, path string
		query, head  int // status with the token in the query, in the header
	}{
		{"GET", "/v1/sync", http.StatusUpgradeRequired, http.StatusUpgradeRequired},
		{"GET", "/v1/test/stream", http.StatusNoContent, http.StatusNoContent},
		{"GET", "/v1/test/plain", http.StatusUnauthorized, http.StatusNoContent},
		{"POST", "/v1/test/plain", http.StatusUnauthorized, http.StatusNoContent},
		{"GET", "/v1/me", http.StatusUnauthorized, http.StatusOK},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			if res := e.do(t, tc.method, tc.path+q, nil, ""); res.code != tc.query {
				t.Errorf("token in the query: %d, want %d: %.200s", res.code, tc.query, res.body)
			}
			if res := e.do(t, tc.method, tc.path, nil, e.token); res.code != tc.head {
				t.Errorf("token in the header: %d, want %d: %.200s", res.code, tc.head, res.body)
			}
		})
	}
}
