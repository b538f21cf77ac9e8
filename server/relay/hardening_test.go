package relay_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// rawConn dials the relay of e without HTTP, for requests a client
// library would not send.
func rawConn(t *testing.T, e *env) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestReadTimeouts checks that late request headers and bodies cost the
// relay a connection only for its read timeouts, and that a handler that
// runs past the body deadline after reading its body is not cut off.
func TestReadTimeouts(t *testing.T) {
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
		return o.WithReadTimeouts(300*time.Millisecond, 300*time.Millisecond)
	})
	cases := []struct {
		name     string
		send     string
		wantCode int // 0: the connection closes without an answer
	}{
		{"headers never finish", "GET /healthz HTTP/1.1\r\nHost: x\r\n", 0},
		{"body never finishes", "POST /v1/accounts HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user", 408},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := rawConn(t, e)
			if _, err := io.WriteString(conn, tc.send); err != nil {
				t.Fatal(err)
			}
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			start := time.Now()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			took := time.Since(start)
			if took > 3*time.Second {
				t.Fatalf("connection held %s, read timeout 300 ms", took)
			}
			switch {
			case tc.wantCode == 0 && err == nil:
				t.Fatalf("got %d, want the connection closed", resp.StatusCode)
			case tc.wantCode != 0 && err != nil:
				t.Fatalf("no answer: %v, want %d", err, tc.wantCode)
			case tc.wantCode != 0 && resp.StatusCode != tc.wantCode:
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantCode)
			}
			if tc.wantCode != 0 {
				if _, err := io.ReadAll(resp.Body); err != nil {
					t.Fatal(err)
				}
				if _, err := bufio.NewReader(conn).ReadByte(); err == nil {
					t.Fatal("connection still open after a late body")
				}
			}
		})
	}
	t.Run("slow handler after the body", func(t *testing.T) {
		slow := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
			return o.WithReadTimeouts(time.Second, 50*time.Millisecond).
				WithArgonParams(relay.ArgonParams{Time: 16, MemoryK: 8 << 10, Threads: 1})
		})
		start := time.Now()
		if res := slow.do(t, "POST", "/v1/accounts", map[string]string{"username": "slowpoke", "password": "long enough"}, ""); res.code != 201 {
			t.Fatalf("signup with a hash longer than the body deadline: %d %s", res.code, res.body)
		}
		if took := time.Since(start); took < 50*time.Millisecond {
			t.Logf("the hash took only %s; the case proves little on this machine", took)
		}
	})
}

// TestMaxConns checks the connection cap: with 2 connections held open,
// a third gets no answer until one of them closes.
func TestMaxConns(t *testing.T) {
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithMaxConns(2) })
	// startRelay's own requests left a keep-alive connection in the
	// default client; drop it so the relay holds none.
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(50 * time.Millisecond)
	held := []net.Conn{rawConn(t, e), rawConn(t, e)}
	for _, c := range held {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection: %v", err)
		}
		resp.Body.Close()
	}
	third := rawConn(t, e)
	if _, err := io.WriteString(third, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(third)
	third.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("a third connection was served while 2 were held, cap 2")
	}
	held[0].Close()
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v", err)
	}
	resp.Body.Close()
}

// TestMultiRange checks the Range limits on a 1,000-byte chunk: more than
// relay.MaxRanges ranges are 416, overlapping and adjacent ranges are
// merged, and no answer carries more than the chunk plus part headers.
func TestMultiRange(t *testing.T) {
	const size = 1000
	e := startRelay(t, 1, size)
	many := make([]string, 2_000) // about 16 KiB: within relay.MaxHeaderBytes
	for i := range many {
		many[i] = fmt.Sprintf("%d-%d", i%size, i%size)
	}
	cases := []struct {
		name      string
		rng       string
		wantCode  int
		wantParts []string // Content-Range of each part (one: a single-part answer)
	}{
		{"2,000 one-byte ranges", "bytes=" + strings.Join(many, ","), 416, nil},
		{"9 ranges", "bytes=0-0,10-10,20-20,30-30,40-40,50-50,60-60,70-70,80-80", 416, nil},
		{"8 disjoint ranges", "bytes=0-0,10-10,20-20,30-30,40-40,50-50,60-60,70-70", 206,
			[]string{"bytes 0-0/1000", "bytes 10-10/1000", "bytes 20-20/1000", "bytes 30-30/1000", "bytes 40-40/1000", "bytes 50-50/1000", "bytes 60-60/1000", "bytes 70-70/1000"}},
		{"overlapping", "bytes=0-99,50-149", 206, []string{"bytes 0-149/1000"}},
		{"adjacent, out of order", "bytes=2-3,0-1", 206, []string{"bytes 0-3/1000"}},
		{"8 copies of the whole chunk", "bytes=0-,0-,0-,0-,0-,0-,0-,-1000", 206, []string{"bytes 0-999/1000"}},
		{"two parts kept apart", "bytes=0-9,-10", 206, []string{"bytes 0-9/1000", "bytes 990-999/1000"}},
		{"single range", "bytes=10-19", 206, []string{"bytes 10-19/1000"}},
		{"empty elements and spaces", "bytes=0-1, ,\t2-3 ,,", 206, []string{"bytes 0-3/1000"}},
		{"unsatisfiable ones dropped", "bytes=5000-,0-9,-0", 206, []string{"bytes 0-9/1000"}},
		{"all unsatisfiable", "bytes=5000-,1000-2000,-0", 416, nil},
		{"a malformed range among valid ones: ignored", "bytes=0-0,10-10,x", 200, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, "GET", "/v1/audio/tr1/high/chunks/0", nil, e.token, "Range", tc.rng)
			if res.code != tc.wantCode {
				t.Fatalf("status %d, want %d: %.200s", res.code, tc.wantCode, res.body)
			}
			if len(res.body) > size+relay.MaxRanges*200 {
				t.Fatalf("answer of %d bytes for a %d-byte chunk", len(res.body), size)
			}
			if tc.wantCode == 416 {
				if got := res.header.Get("Content-Range"); got != "bytes */1000" {
					t.Fatalf("Content-Range %q", got)
				}
				res.errorMessage(t)
				return
			}
			var got []string
			mt, params, _ := mime.ParseMediaType(res.header.Get("Content-Type"))
			if mt != "multipart/byteranges" {
				got = []string{res.header.Get("Content-Range")}
			} else {
				mr := multipart.NewReader(strings.NewReader(string(res.body)), params["boundary"])
				for {
					p, err := mr.NextPart()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, p.Header.Get("Content-Range"))
				}
			}
			if strings.Join(got, ";") != strings.Join(tc.wantParts, ";") {
				t.Fatalf("parts %q, want %q", got, tc.wantParts)
			}
		})
	}
}

// TestErrorBodies checks that no error body names an internal store key
// or echoes more than a short piece of long input.
func TestErrorBodies(t *testing.T) {
	e := startRelay(t, 1, 1000)
	long := strings.Repeat("x", 5000)
	cases := []struct {
		name, method, path string
		body               any
		want               int
	}{
		{"unknown track", "GET", "/v1/tracks/nope", nil, 404},
		{"unknown album", "GET", "/v1/albums/nope", nil, 404},
		{"unknown artist", "GET", "/v1/artists/nope", nil, 404},
		{"unknown manifest", "GET", "/v1/audio/nope/high/manifest", nil, 404},
		{"unknown blob", "GET", "/v1/blobs/" + strings.Repeat("0", 64), nil, 404},
		{"long track id", "GET", "/v1/tracks/" + long, nil, 404},
		{"long album id", "GET", "/v1/albums/" + long, nil, 404},
		{"long artist id", "GET", "/v1/artists/" + long, nil, 404},
		{"long manifest track id", "GET", "/v1/audio/" + long + "/high/manifest", nil, 404},
		{"long chunk track id", "GET", "/v1/audio/" + long + "/high/chunks/0", nil, 404},
		{"track id just too long", "GET", "/v1/tracks/" + long[:200], nil, 404},
		{"long tier", "GET", "/v1/audio/tr1/" + long + "/manifest", nil, 400},
		{"long chunk index", "GET", "/v1/audio/tr1/high/chunks/" + strings.Repeat("9", 5000), nil, 400},
		{"long stream key tier", "POST", "/v1/keys/stream", map[string]string{"track": "tr1", "tier": long}, 400},
		{"long stream key track", "POST", "/v1/keys/stream", map[string]string{"track": long, "tier": "high"}, 404},
		{"long username", "POST", "/v1/accounts", map[string]string{"username": long, "password": "long enough"}, 400},
		{"long json key", "POST", "/v1/accounts", `{"` + long + `": 1, "` + long + `": 2}`, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, tc.method, tc.path, tc.body, e.token)
			if res.code != tc.want {
				t.Fatalf("status %d, want %d: %.200s", res.code, tc.want, res.body)
			}
			msg := res.errorMessage(t)
			for _, key := range []string{"cat/", "aud/", "blob/", "acct/", "dev/", "tok/", "lic/"} {
				if strings.Contains(msg, key) {
					t.Errorf("error %q names a store key (%s…)", msg, key)
				}
			}
			if len(res.body) > 300 {
				t.Errorf("error body of %d bytes echoes input: %.120s…", len(res.body), res.body)
			}
			if strings.Contains(msg, strings.Repeat("x", relay.MaxEchoedInput+1)) {
				t.Errorf("error %.120q… echoes more than %d bytes of input", msg, relay.MaxEchoedInput)
			}
		})
	}
}

// TestStrictJSON checks relay.DecodeJSON through POST /v1/accounts:
// duplicate keys at any depth (case-insensitively, as encoding/json
// matches fields) and data after the value are 400, trailing whitespace
// is fine; and a password of only whitespace is refused at signup.
func TestStrictJSON(t *testing.T) {
	e := startRelay(t, 1, 1000)
	cases := []struct {
		name, body string
		want       int
	}{
		{"duplicate key", `{"username":"dup1","username":"dup2","password":"long enough"}`, 400},
		{"duplicate key in another case", `{"username":"dup3","USERNAME":"dup4","password":"long enough"}`, 400},
		{"duplicate nested key", `{"username":"dup5","password":"long enough","x":[{"a":1,"a":2}]}`, 400},
		{"second value", `{"username":"two1","password":"long enough"} {"username":"two2"}`, 400},
		{"trailing garbage", `{"username":"two3","password":"long enough"} x`, 400},
		{"trailing array", `{"username":"two4","password":"long enough"}[]`, 400},
		{"whitespace password", `{"username":"ws1","password":"            "}`, 400},
		{"unicode whitespace password", `{"username":"ws2","password":"\t\n\r \u00a0\u2003\u3000  "}`, 400},
		{"same key in sibling objects", `{"username":"ok1","password":"long enough","x":[{"a":1},{"a":2}]}`, 201},
		{"trailing whitespace", "{\"username\":\"ok2\",\"password\":\"long enough\"}\n\t ", 201},
		{"password with inner spaces", `{"username":"ok3","password":"  a b c d  "}`, 201},
		{"raw bytes not UTF-8", "{\"username\":\"bad1\",\"password\":\"long enough\xff\xfe\"}", 400},
		{"lone high surrogate escape", `{"username":"bad2","password":"long enough\ud800"}`, 400},
		{"lone low surrogate escape", `{"username":"bad3","password":"long enough\udc00x"}`, 400},
		{"high surrogate then another escape", `{"username":"bad4","password":"long enough\ud83d\n"}`, 400},
		{"two high surrogates", `{"username":"bad5","password":"long enough\ud83d\ud83d\ude00"}`, 400},
		{"surrogate pair escape", `{"username":"ok4","password":"long enough \ud83d\ude00"}`, 201},
		{"escaped backslash before u", `{"username":"ok5","password":"long enough \\ud800"}`, 201},
		{"escapes and raw UTF-8", `{"username":"ok6","password":"long enough \u00e9 é \"\\ 🎧"}`, 201},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, "POST", "/v1/accounts", tc.body, "")
			if res.code != tc.want {
				t.Fatalf("status %d, want %d: %s", res.code, tc.want, res.body)
			}
			if tc.want == 400 {
				res.errorMessage(t)
			}
		})
	}
}

// TestJSONTypeErrors: a body value of the wrong JSON type is 400 naming
// the field's JSON path and the JSON type wanted, never the relay's Go
// types (encoding/json's own message read "cannot unmarshal number into
// Go struct field StreamKeyRequest.tier of type model.Tier").
func TestJSONTypeErrors(t *testing.T) {
	e := startRelay(t, 1, 1000)
	cases := []struct {
		path, body, want string
	}{
		{"/v1/keys/stream", `{"track":"t","tier":5}`, `field "tier" is a JSON number, want a string`},
		{"/v1/keys/stream", `{"track":["t"],"tier":"high"}`, `field "track" is a JSON array, want a string`},
		{"/v1/keys/stream", `"t"`, `the body is a JSON string, want an object`},
		{"/v1/tracks/batch", `{"ids":"t"}`, `field "ids" is a JSON string, want an array`},
		{"/v1/tracks/batch", `{"ids":[1]}`, `field "ids" is a JSON number, want a string`},
		{"/v1/accounts", `{"username":"bob","password":true}`, `field "password" is a JSON bool, want a string`},
		{"/v1/devices", `{"username":"ada","issued":-1.5}`, `field "issued" is a JSON number -1.5, want an integer from -9223372036854775808 to 9223372036854775807`},
		{"/v1/devices", `{"username":"ada","sign_pub":{}}`, `field "sign_pub" is a JSON object, want a base64 string`},
	}
	for _, tc := range cases {
		t.Run(tc.path+" "+tc.body, func(t *testing.T) {
			res := e.do(t, "POST", tc.path, tc.body, e.token, "Content-Type", "application/json")
			msg := res.errorMessage(t)
			if res.code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %q, want 400 saying %q", res.code, msg, tc.want)
			}
			for _, internal := range []string{"Go ", "model.", "api.", "Request", "int64", "[]uint8"} {
				if strings.Contains(msg, internal) {
					t.Errorf("message %q names the relay's Go types (%q)", msg, internal)
				}
			}
		})
	}
}

// TestStoreContentionIs503: a request whose store transaction keeps
// conflicting until the store gives up (badgerstore.ErrConflict) is 503
// with Retry-After: 1 and a message naming no store internals. It was a
// 500 "internal error" logged at ERROR: 16 concurrent PUT /v1/profile of
// one user got 49 of 2,000 such answers from a real relay.
func TestStoreContentionIs503(t *testing.T) {
	key := []byte("test/contended")
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 1000) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.PUT("/contended", func(c echo.Context) error {
						ctx := c.Request().Context()
						// Every attempt reads key, then another transaction
						// changes it before this one commits: a conflict each time.
						return dd.Store.Update(ctx, func(tx store.Txn) error {
							if _, err := tx.Get(key); err != nil && !errors.Is(err, store.ErrNotFound) {
								return err
							}
							if err := dd.Store.Set(ctx, key, []byte(time.Now().String())); err != nil {
								return err
							}
							return tx.Set(key, []byte("mine"))
						})
					})
				})
			})
		})
	res := e.do(t, "PUT", "/v1/contended", nil, e.token)
	msg := res.errorMessage(t)
	if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "1" {
		t.Fatalf("%d Retry-After %q %q, want 503 with Retry-After 1", res.code, res.header.Get("Retry-After"), msg)
	}
	if !strings.Contains(msg, "concurrent changes") || strings.Contains(msg, "badger") {
		t.Errorf("message %q, want one about concurrent changes, naming no store", msg)
	}
}

// TestSyncWithoutUpgrade: GET /v1/sync without a WebSocket upgrade is 426
// with Upgrade: websocket and a JSON error body, like every relay error;
// the WebSocket library answered it in plain text ("WebSocket protocol
// violation: …"). Without a token it is 401 first.
func TestSyncWithoutUpgrade(t *testing.T) {
	e := startRelay(t, 1, 1000)
	cases := []struct {
		name  string
		token string
		hdr   []string
		want  int
	}{
		{"no upgrade", e.token, nil, http.StatusUpgradeRequired},
		{"upgrade to another protocol", e.token, []string{"Connection", "Upgrade", "Upgrade", "h2c"}, http.StatusUpgradeRequired},
		{"upgrade header without connection", e.token, []string{"Upgrade", "websocket"}, http.StatusUpgradeRequired},
		{"no token", "", nil, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, "GET", "/v1/sync", nil, tc.token, tc.hdr...)
			msg := res.errorMessage(t)
			if res.code != tc.want || res.header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s %q, want %d with a JSON body", res.code, res.header.Get("Content-Type"), msg, tc.want)
			}
			if tc.want == http.StatusUpgradeRequired && res.header.Get("Upgrade") != "websocket" {
				t.Errorf("Upgrade %q, want websocket", res.header.Get("Upgrade"))
			}
		})
	}
}
