package core

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"
)

// DialFunc opens a network connection; it has the signature of
// net.Dialer.DialContext. See Options.WithDialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Settings of the engine's default HTTP client.
const (
	clientTimeout = 30 * time.Second
	// idleConnTimeout keeps an unused connection to a relay this long, so
	// the next play request pays no handshake (the relay's default idle
	// timeout is the same).
	idleConnTimeout = 5 * time.Minute
	// pingAfter is how long an HTTP/2 connection may stay silent before
	// the client sends a PING: it keeps NAT mappings alive and finds a dead
	// connection (say, after a network change) before a play request
	// would wait on it. pingTimeout closes a connection whose PING is not
	// answered in time.
	pingAfter   = 30 * time.Second
	pingTimeout = 10 * time.Second
	// h1Reprobe is how long an origin that failed its first cleartext
	// HTTP/2 attempt is spoken to over HTTP/1.1 before h2c is tried again.
	h1Reprobe = time.Hour
)

// newRelayClient returns the engine's default HTTP client (see
// Options.WithHTTP2). dial nil uses a net.Dialer with a 10 s timeout.
func newRelayClient(http2 bool, dial DialFunc) *http.Client {
	if dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	h2 := &http.HTTP2Config{SendPingTimeout: pingAfter, PingTimeout: pingTimeout}
	var std http.Protocols
	std.SetHTTP1(true)
	std.SetHTTP2(true)
	rt := &relayTransport{
		std: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dial,
			Protocols:             &std,
			HTTP2:                 h2,
			MaxIdleConns:          64,
			MaxIdleConnsPerHost:   8,
			IdleConnTimeout:       idleConnTimeout,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		now:   time.Now,
		hosts: map[string]hostState{},
	}
	if http2 {
		var h2c http.Protocols
		h2c.SetUnencryptedHTTP2(true)
		rt.h2c = &http.Transport{
			DialContext: dial,
			Protocols:   &h2c,
			HTTP2:       h2,
			// For HTTP/2 this bounds dials in progress, not connections:
			// concurrent first requests wait for the one connection being
			// dialed instead of each dialing its own, and a further
			// connection is still opened when one's streams run out.
			MaxConnsPerHost: 1,
			IdleConnTimeout: idleConnTimeout,
		}
	}
	return &http.Client{Timeout: clientTimeout, Transport: rt}
}

// hostState is what relayTransport learned about an http:// origin.
type hostState struct {
	h2c     bool      // a cleartext HTTP/2 request to it succeeded
	h1Until time.Time // it failed its first h2c attempt: HTTP/1.1 until then
}

// relayTransport sends http:// requests as cleartext HTTP/2 with prior
// knowledge (h2c), so that concurrent requests to a relay share one
// connection, and everything else through an HTTP/1.1 transport that also
// negotiates HTTP/2 over TLS (ALPN).
//
// Routing of an http:// request: WebSocket upgrades, requests through a
// proxy, and requests to an origin known not to speak h2c go over
// HTTP/1.1. Any other request goes over h2c. When an origin's h2c attempt
// fails before h2c ever worked there, other than in dialing or by the
// request's cancellation, the origin is taken to speak only HTTP/1.1 (an
// HTTP/1.1 server answers the HTTP/2 preface with an HTTP/1.1 error or
// closes the connection): the request is resent over HTTP/1.1 (when its
// body can be rewound) and the origin stays on HTTP/1.1 for h1Reprobe. A
// failure on an origin where h2c did work is returned as is, and the next
// request probes again, so a relay later downgraded to HTTP/1.1 costs one
// failed request.
type relayTransport struct {
	std *http.Transport
	h2c *http.Transport // nil: HTTP/2 off for http:// origins
	now func() time.Time

	mu    sync.Mutex
	hosts map[string]hostState // by URL host (host:port)
}

// RoundTrip implements http.RoundTripper.
func (t *relayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.useH2C(req) {
		return t.std.RoundTrip(req)
	}
	resp, err := t.h2c.RoundTrip(req)
	if err == nil {
		t.setState(req.URL.Host, hostState{h2c: true})
		return resp, nil
	}
	if !t.fallBack(req, err) {
		return nil, err
	}
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, err
		}
		body, gerr := req.GetBody()
		if gerr != nil {
			return nil, errors.Join(err, gerr)
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return t.std.RoundTrip(req)
}

// useH2C reports whether req goes over cleartext HTTP/2.
func (t *relayTransport) useH2C(req *http.Request) bool {
	if t.h2c == nil || req.URL.Scheme != "http" || req.Header.Get("Upgrade") != "" {
		return false
	}
	if p, err := http.ProxyFromEnvironment(req); err != nil || p != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.now().Before(t.hosts[req.URL.Host].h1Until)
}

// fallBack updates the origin's state after a failed h2c attempt and
// reports whether the request should be resent over HTTP/1.1.
func (t *relayTransport) fallBack(req *http.Request, err error) bool {
	var op *net.OpError
	if req.Context().Err() != nil || (errors.As(err, &op) && op.Op == "dial") {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts[req.URL.Host].h2c {
		delete(t.hosts, req.URL.Host)
		return false
	}
	t.hosts[req.URL.Host] = hostState{h1Until: t.now().Add(h1Reprobe)}
	return true
}

func (t *relayTransport) setState(host string, s hostState) {
	t.mu.Lock()
	t.hosts[host] = s
	t.mu.Unlock()
}

// CloseIdleConnections closes the idle connections of both transports
// (http.Client.CloseIdleConnections calls it).
func (t *relayTransport) CloseIdleConnections() {
	t.std.CloseIdleConnections()
	if t.h2c != nil {
		t.h2c.CloseIdleConnections()
	}
}
