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
	// h1Reprobe is how long an origin that failed its first HTTP/2-only
	// attempt goes through the negotiating transport before HTTP/2-only
	// is tried again.
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
		var h2only http.Protocols
		h2only.SetUnencryptedHTTP2(true)
		h2only.SetHTTP2(true)
		rt.h2 = &http.Transport{
			DialContext:         dial,
			Protocols:           &h2only,
			HTTP2:               h2,
			TLSHandshakeTimeout: 10 * time.Second,
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

// hostState is what relayTransport learned about an origin.
type hostState struct {
	h2      bool      // an HTTP/2-only request to it succeeded
	h1Until time.Time // it failed its first HTTP/2-only attempt: std until then
}

// relayTransport sends requests HTTP/2-only through one transport that
// dials one connection per origin at a time — cleartext HTTP/2 with prior
// knowledge (h2c) for http://, h2 by ALPN for https:// — so that
// concurrent requests to a relay share one connection even when none is
// open yet. The other transport, std, speaks HTTP/1.1 to http:// and
// negotiates HTTP/2 or HTTP/1.1 by ALPN for https:// (without coalescing
// concurrent dials).
//
// Routing: WebSocket upgrades, requests through a proxy, and requests to
// an origin known not to speak HTTP/2 go through std; any other request
// goes HTTP/2-only. When an origin's HTTP/2-only attempt fails before
// HTTP/2 ever worked there, other than in dialing or by the request's
// cancellation, the origin is taken not to speak it (an HTTP/1.1 server
// answers the h2c preface with an HTTP/1.1 error or closes the
// connection; a TLS server without h2 refuses the ALPN): the request is
// resent through std (when its body can be rewound) and the origin stays
// there for h1Reprobe. A failure on an origin where HTTP/2 did work is
// returned as is, and the next request probes again, so a relay later
// downgraded to HTTP/1.1 costs one failed request.
type relayTransport struct {
	std *http.Transport
	h2  *http.Transport // nil: HTTP/2 off for http:// origins
	now func() time.Time

	mu    sync.Mutex
	hosts map[string]hostState // by URL host (host:port)
}

// RoundTrip implements http.RoundTripper.
func (t *relayTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.useH2(req) {
		return t.std.RoundTrip(req)
	}
	resp, err := t.h2.RoundTrip(req)
	if err == nil {
		t.setState(req.URL.Host, hostState{h2: true})
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

// useH2 reports whether req goes HTTP/2-only.
func (t *relayTransport) useH2(req *http.Request) bool {
	if t.h2 == nil || req.Header.Get("Upgrade") != "" {
		return false
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false
	}
	if p, err := http.ProxyFromEnvironment(req); err != nil || p != nil {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return !t.now().Before(t.hosts[req.URL.Host].h1Until)
}

// fallBack updates the origin's state after a failed HTTP/2-only attempt
// and reports whether the request should be resent through std.
func (t *relayTransport) fallBack(req *http.Request, err error) bool {
	var op *net.OpError
	if req.Context().Err() != nil || (errors.As(err, &op) && op.Op == "dial") {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts[req.URL.Host].h2 {
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
	if t.h2 != nil {
		t.h2.CloseIdleConnections()
	}
}
