package core

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// protoServer serves on 127.0.0.1 with the given protocols, echoing each
// request's protocol and body, and counts the HTTP/2 prefaces an
// HTTP/1.1-only server receives (as "PRI *" requests).
type protoServer struct {
	url  string
	pri  atomic.Int32
	mu   sync.Mutex
	seen []string // "<proto> <method> <body>"
}

func newProtoServer(t *testing.T, h2c bool) *protoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ps := &protoServer{url: "http://" + ln.Addr().String()}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(h2c)
	hs := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "PRI" {
			ps.pri.Add(1)
			http.Error(w, "no h2c", http.StatusHTTPVersionNotSupported)
			return
		}
		b, _ := io.ReadAll(r.Body)
		ps.mu.Lock()
		ps.seen = append(ps.seen, r.Proto+" "+r.Method+" "+string(b))
		ps.mu.Unlock()
		io.WriteString(w, r.Proto)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ps
}

func (ps *protoServer) last() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if len(ps.seen) == 0 {
		return ""
	}
	return ps.seen[len(ps.seen)-1]
}

type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeNow) now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }
func (f *fakeNow) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// TestRelayTransportRouting walks the default client through its
// protocol choices against real servers.
func TestRelayTransportRouting(t *testing.T) {
	t.Setenv("HTTP_PROXY", "")
	t.Setenv("http_proxy", "")
	h2Srv, h1Srv := newProtoServer(t, true), newProtoServer(t, false)
	clock := &fakeNow{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	var dials atomic.Int32
	var d net.Dialer
	c := newRelayClient(true, func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		return d.DialContext(ctx, network, addr)
	})
	rt := c.Transport.(*relayTransport)
	rt.now = clock.now
	type step struct {
		name      string
		srv       *protoServer
		method    string
		upgrade   bool
		advance   time.Duration // clock advance before the request
		wantProto string
		wantPRI   int32 // h1Srv's prefaces so far
	}
	steps := []step{
		{"h2c relay: GET over h2c", h2Srv, "GET", false, 0, "HTTP/2.0", 0},
		{"h2c relay: POST body over h2c", h2Srv, "POST", false, 0, "HTTP/2.0", 0},
		{"h2c relay: upgrade request stays on HTTP/1.1", h2Srv, "GET", true, 0, "HTTP/1.1", 0},
		{"HTTP/1.1 relay: probe fails, POST resent over HTTP/1.1", h1Srv, "POST", false, 0, "HTTP/1.1", 1},
		{"HTTP/1.1 relay: no further probe", h1Srv, "GET", false, 0, "HTTP/1.1", 1},
		{"HTTP/1.1 relay: still none after 59 min", h1Srv, "POST", false, 59 * time.Minute, "HTTP/1.1", 1},
		{"HTTP/1.1 relay: re-probed after an hour", h1Srv, "POST", false, 2 * time.Minute, "HTTP/1.1", 2},
		{"h2c relay unaffected", h2Srv, "GET", false, 0, "HTTP/2.0", 2},
	}
	for _, s := range steps {
		clock.add(s.advance)
		body := "body of " + s.name
		req, err := http.NewRequest(s.method, s.srv.url+"/x", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if s.upgrade {
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != s.wantProto {
			t.Errorf("%s: served over %s, want %s", s.name, got, s.wantProto)
		}
		if want := s.wantProto + " " + s.method + " " + body; s.srv.last() != want {
			t.Errorf("%s: server saw %q, want %q", s.name, s.srv.last(), want)
		}
		if n := h1Srv.pri.Load(); n != s.wantPRI {
			t.Errorf("%s: %d prefaces at the HTTP/1.1 relay, want %d", s.name, n, s.wantPRI)
		}
	}
	// A refused dial is not a protocol verdict: no retry, no state.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	d0 := dials.Load()
	if _, err := c.Get(dead + "/x"); err == nil {
		t.Fatal("GET of a closed port succeeded")
	}
	if n := dials.Load() - d0; n != 1 {
		t.Errorf("closed port: %d dials, want 1 (no HTTP/1.1 retry)", n)
	}
	if _, ok := rt.hosts[strings.TrimPrefix(dead, "http://")]; ok {
		t.Error("closed port left a protocol verdict")
	}
}

// TestRelayTransportHTTP2Off checks WithHTTP2(false): http:// over
// HTTP/1.1 only, no preface ever sent.
func TestRelayTransportHTTP2Off(t *testing.T) {
	h1Srv, h2Srv := newProtoServer(t, false), newProtoServer(t, true)
	c := newRelayClient(false, nil)
	for _, srv := range []*protoServer{h1Srv, h2Srv} {
		resp, err := c.Get(srv.url + "/x")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(got) != "HTTP/1.1" {
			t.Errorf("served over %s, want HTTP/1.1", got)
		}
	}
	if n := h1Srv.pri.Load(); n != 0 {
		t.Errorf("%d prefaces sent with HTTP/2 off", n)
	}
}

// TestRelayTransportHTTPS checks https:// origins: concurrent first
// requests to an HTTP/2 server share one dial, and a TLS server without h2
// is reached over HTTP/1.1 after one refused ALPN.
func TestRelayTransportHTTPS(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Proto) })
	h2Srv := httptest.NewUnstartedServer(handler)
	h2Srv.EnableHTTP2 = true
	h2Srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	h2Srv.StartTLS()
	defer h2Srv.Close()
	h1Srv := httptest.NewUnstartedServer(handler)
	h1Srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused ALPN is logged
	h1Srv.StartTLS()
	defer h1Srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(h2Srv.Certificate())
	pool.AddCert(h1Srv.Certificate())
	var dials atomic.Int32
	var d net.Dialer
	c := newRelayClient(true, func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		time.Sleep(20 * time.Millisecond)
		return d.DialContext(ctx, network, addr)
	})
	rt := c.Transport.(*relayTransport)
	rt.std.TLSClientConfig = &tls.Config{RootCAs: pool}
	rt.h2.TLSClientConfig = &tls.Config{RootCAs: pool}
	cases := []struct {
		name      string
		url       string
		wantProto string
		wantDials int32
	}{
		{"h2 server: four concurrent requests, one dial", h2Srv.URL, "HTTP/2.0", 1},
		{"HTTP/1.1 server: refused ALPN, then HTTP/1.1", h1Srv.URL, "HTTP/1.1", -1},
	}
	for _, tc := range cases {
		d0 := dials.Load()
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				resp, err := c.Get(tc.url + "/x")
				if err != nil {
					t.Errorf("%s: %v", tc.name, err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != tc.wantProto {
					t.Errorf("%s: served over %s, want %s", tc.name, got, tc.wantProto)
				}
			})
		}
		wg.Wait()
		time.Sleep(50 * time.Millisecond) // any other dial in flight completes
		if n := dials.Load() - d0; tc.wantDials >= 0 && n != tc.wantDials {
			t.Errorf("%s: %d dials, want %d", tc.name, n, tc.wantDials)
		}
	}
}
