package relay_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
)

// h2cClient speaks only cleartext HTTP/2 with prior knowledge and counts
// the TCP connections it dials.
func h2cClient(dials *atomic.Int32) *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{Protocols: &p,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}}}
}

// http1Client speaks only HTTP/1.1.
func http1Client() *http.Client {
	var p http.Protocols
	p.SetHTTP1(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

// protoResponse is a fully read response and the protocol it came over.
type protoResponse struct {
	response
	proto string
}

func doWith(t testing.TB, c *http.Client, method, url, token string, hdr ...string) protoResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return protoResponse{response{code: resp.StatusCode, header: resp.Header, body: b}, resp.Proto}
}

// originCases are audio-origin requests whose answers must not depend on
// the HTTP version.
var originCases = []struct {
	name, method, path string
	hdr                []string
	code               int
}{
	{"manifest", "GET", "/v1/audio/tr1/high/manifest", nil, 200},
	{"header", "GET", "/v1/audio/tr1/high/header", nil, 200},
	{"chunk", "GET", "/v1/audio/tr1/high/chunks/1", nil, 200},
	{"range", "GET", "/v1/audio/tr1/high/chunks/1", []string{"Range", "bytes=100-199"}, 206},
	{"open range", "GET", "/v1/audio/tr1/high/chunks/0", []string{"Range", "bytes=40000-"}, 206},
	{"suffix range", "GET", "/v1/audio/tr1/high/chunks/2", []string{"Range", "bytes=-16"}, 206},
	{"unsatisfiable", "GET", "/v1/audio/tr1/high/chunks/1", []string{"Range", "bytes=70000-"}, 416},
	{"head range", "HEAD", "/v1/audio/tr1/high/chunks/1", []string{"Range", "bytes=0-9"}, 206},
	{"missing chunk", "GET", "/v1/audio/tr1/high/chunks/9", nil, 404},
}

// TestHTTP2PriorKnowledgeOrigin checks that the plain listener answers a
// cleartext HTTP/2 (prior knowledge) client exactly as an HTTP/1.1 one:
// same status, bytes and range headers, and that concurrent requests
// share one connection.
func TestHTTP2PriorKnowledgeOrigin(t *testing.T) {
	e := startRelay(t, 3, 65536)
	var dials atomic.Int32
	h2, h1 := h2cClient(&dials), http1Client()
	for _, c := range originCases {
		t.Run(c.name, func(t *testing.T) {
			a := doWith(t, h2, c.method, e.base+c.path, e.token, c.hdr...)
			b := doWith(t, h1, c.method, e.base+c.path, e.token, c.hdr...)
			if a.proto != "HTTP/2.0" || b.proto != "HTTP/1.1" {
				t.Fatalf("protocols %s and %s, want HTTP/2.0 and HTTP/1.1", a.proto, b.proto)
			}
			if a.code != c.code || b.code != c.code {
				t.Fatalf("status h2 %d, h1 %d, want %d", a.code, b.code, c.code)
			}
			if !bytes.Equal(a.body, b.body) {
				t.Errorf("bodies differ: h2 %d bytes, h1 %d bytes", len(a.body), len(b.body))
			}
			for _, h := range []string{"Content-Range", "Content-Length", "Content-Type", "ETag", "Accept-Ranges", "Cache-Control"} {
				if a.header.Get(h) != b.header.Get(h) {
					t.Errorf("%s: h2 %q, h1 %q", h, a.header.Get(h), b.header.Get(h))
				}
			}
		})
	}
	want := e.pub.chunks[1][100:200]
	if r := doWith(t, h2, "GET", e.base+"/v1/audio/tr1/high/chunks/1", e.token, "Range", "bytes=100-199"); !bytes.Equal(r.body, want) {
		t.Fatalf("h2 range body differs from the published chunk")
	}
	// Eight concurrent chunk reads multiplex on the connection opened above.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			r := doWith(t, h2, "GET", e.base+"/v1/audio/tr1/high/chunks/"+strconv.Itoa(i%3), e.token)
			if r.code != 200 || !bytes.Equal(r.body, e.pub.chunks[i%3]) {
				t.Errorf("concurrent chunk %d: status %d, %d bytes", i%3, r.code, len(r.body))
			}
		})
	}
	wg.Wait()
	if n := dials.Load(); n != 1 {
		t.Errorf("h2c client dialed %d connections, want 1", n)
	}
}

// TestWebSocketOverHTTP1WithH2C checks that enabling h2c on the listener
// leaves the sync endpoint's WebSocket upgrade (HTTP/1.1 only) working.
func TestWebSocketOverHTTP1WithH2C(t *testing.T) {
	e := startRelay(t, 1, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws" + strings.TrimPrefix(e.base, "http") + "/v1/sync"
	c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.token}}})
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Errorf("status %d, want 101", resp.StatusCode)
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// writeSelfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and
// its key as PEM files in dir, returning their paths and a pool trusting it.
func writeSelfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "segue test relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLSNegotiatesHTTP2 starts the relay with WithTLS and checks that an
// ALPN client gets HTTP/2, an HTTP/1.1-only client still gets HTTP/1.1,
// and ranges answer the same over both.
func TestTLSNegotiatesHTTP2(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := writeSelfSigned(t, t.TempDir())
	pub := publishSynthetic(t, dir, 2, 5000)
	base := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithDataDir(dir).
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithTLS(certFile, keyFile) })).URL
	tlsConf := &tls.Config{RootCAs: pool}
	var both, only1 http.Protocols
	both.SetHTTP1(true)
	both.SetHTTP2(true)
	only1.SetHTTP1(true)
	clients := map[string]*http.Client{
		"HTTP/2.0": {Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), Protocols: &both}},
		"HTTP/1.1": {Transport: &http.Transport{TLSClientConfig: tlsConf.Clone(), Protocols: &only1}},
	}
	// Sign up and register a device over HTTPS to get a token.
	e := &env{base: base, clock: &fakeClock{t: time.Now()}, id: newIdentity(t)}
	post := func(path string, body string) []byte {
		resp, err := clients["HTTP/2.0"].Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 201 {
			t.Fatalf("POST %s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	post("/v1/accounts", `{"username":"ada","password":"correct horse"}`)
	reg, err := json.Marshal(e.registration("ada", "correct horse", e.id, e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Token string `json:"token"`
	}
	response{body: post("/v1/devices", string(reg))}.json(t, &out)
	for proto, c := range clients {
		r := doWith(t, c, "GET", base+"/v1/audio/tr1/high/chunks/1", out.Token, "Range", "bytes=10-4009")
		if r.proto != proto {
			t.Errorf("negotiated %s, want %s", r.proto, proto)
		}
		if r.code != 206 || !bytes.Equal(r.body, pub.chunks[1][10:4010]) || r.header.Get("Content-Range") != "bytes 10-4009/5000" {
			t.Errorf("%s: status %d, %d bytes, Content-Range %q", proto, r.code, len(r.body), r.header.Get("Content-Range"))
		}
	}
}

// TestTLSBadFiles checks that Start refuses certificate files it cannot load.
func TestTLSBadFiles(t *testing.T) {
	certFile, keyFile, _ := writeSelfSigned(t, t.TempDir())
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, cert, key string }{
		{"missing cert", filepath.Join(t.TempDir(), "none.pem"), keyFile},
		{"garbage key", certFile, garbage},
		{"swapped", keyFile, certFile},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, err := relay.New(context.Background(), relay.DefaultOptions(t.TempDir()).WithListen("127.0.0.1:0").
				WithLogger(nil).WithTLS(c.cert, c.key))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if _, err := srv.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "load tls key pair") {
				t.Fatalf("Start = %v, want a tls key pair error", err)
			}
		})
	}
}
