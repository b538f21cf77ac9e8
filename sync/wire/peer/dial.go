package peer

import (
	"context"
	"net"
	"net/http"
	"sync"

	"github.com/coder/websocket"
)

// DialWebSocket is websocket.Dial whose connection, once upgraded,
// queues its writes as the relay's do (QueuedConn): the messages a
// device writes at once — its answers to one read that brought several
// documents' messages — leave in one system call, and the relay reads
// them with one, where each was a write and a read of its own. opts is
// not modified (nil: websocket's defaults). The connection is dialed
// through a clone of the HTTP client's *http.Transport (http.DefaultClient
// when none) whose dial functions wrap each connection in a QueuedConn;
// with a transport of another type it is dialed unqueued, exactly as
// websocket.Dial does. The response is websocket.Dial's.
func DialWebSocket(ctx context.Context, url string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	var o websocket.DialOptions
	if opts != nil {
		o = *opts
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	bt, ok := base.(*http.Transport)
	if !ok {
		return websocket.Dial(ctx, url, opts)
	}
	t := bt.Clone()
	var (
		mu     sync.Mutex
		dialed *QueuedConn // the last connection dialed: the upgraded one
	)
	wrap := func(c net.Conn, err error) (net.Conn, error) {
		if err != nil {
			return nil, err
		}
		q := NewQueuedConn(c, QueueOptions{})
		mu.Lock()
		dialed = q
		mu.Unlock()
		return q, nil
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return wrap(dial(ctx, network, addr))
	}
	if tlsDial := t.DialTLSContext; tlsDial != nil {
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			return wrap(tlsDial(ctx, network, addr))
		}
	}
	client := *hc
	client.Transport = t
	o.HTTPClient = &client
	c, resp, err := websocket.Dial(ctx, url, &o)
	// An upgraded connection left the transport's pool; a refused
	// dial's may idle there.
	t.CloseIdleConnections()
	if err != nil {
		return c, resp, err
	}
	mu.Lock()
	q := dialed
	mu.Unlock()
	if q != nil {
		q.Queue()
	}
	return c, resp, nil
}
