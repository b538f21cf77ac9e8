package relaysync

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ErrPeerID is why the relay closes a connection whose join names a
// peer id it may not use: another device's, the relay's own, or one a
// live connection of another account joined with or one ended recently
// (WithPeerIDMemory).
var ErrPeerID = fmt.Errorf("relaysync: peer id refused: %w", peer.ErrProtocol)

// Caller is who a sync connection was authenticated as.
type Caller struct {
	// User is the account; it decides document access.
	User model.UserID
	// Device is the calling device; "" when unknown, and then
	// RevokeDevice cannot reach the connection.
	Device model.DeviceID
	// Expires is when the token the connection was opened with expires;
	// the connection is closed then (peer.CloseUnauthorized). Zero: no
	// expiry.
	Expires time.Time
}

// Close reasons sent with peer.CloseRevoked and peer.CloseUnauthorized.
const (
	reasonRevoked = "revoked: device deregistered"
	reasonExpired = "unauthorized: token expired"
)

// revokeSendTimeout bounds telling one live session about a revocation,
// so a stalled peer cannot hold RevokeDevice up.
const revokeSendTimeout = time.Second

// WithAfterFunc sets how the endpoint schedules the close of a
// connection at its token's expiry and its keepalive sweeps
// (WithKeepalive): after(d, f) runs f once d has passed
// and returns a function that cancels it (reporting whether it did). The
// delay d is computed with the clock of WithClock. Default
// time.AfterFunc.
func (o Options) WithAfterFunc(after func(d time.Duration, f func()) (stop func() bool)) Options {
	o.after = after
	return o
}

func afterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// liveConn is one served connection in the registry. It is also the
// session's Conn: once ended it neither delivers nor sends another
// message.
type liveConn struct {
	caller Caller
	peerID string // the remote's peer id, from its join message
	conn   peer.Conn
	ws     *websocket.Conn
	ctx    context.Context // the session's; ends keepalive pings
	cancel context.CancelFunc
	stop   func() bool // cancels the expiry close; nil without expiry

	act      atomic.Int32 // keepalive state: actSilent, actHeard or actBusy
	pinging  atomic.Bool  // a keepalive ping is queued or waits for its pong
	pingSent atomic.Bool  // the ping of the last sweep has been sent
	pinged   bool         // guarded by liveSet.mu: pinged by the last sweep

	mu     sync.Mutex
	code   websocket.StatusCode
	reason string
}

// errEnded is returned by a liveConn's Recv and Send after end.
var errEnded = errors.New("relaysync: connection ended by the relay")

// Recv implements peer.Conn. It tells the keepalive that the session
// handles a message it read (from return to the next Recv, which
// counts the message as heard).
func (l *liveConn) Recv(ctx context.Context) (*wire.Message, error) {
	l.act.CompareAndSwap(actBusy, actHeard)
	m, err := l.conn.Recv(ctx)
	l.act.Store(actBusy)
	if _, _, ended := l.ended(); ended {
		return nil, errEnded
	}
	return m, err
}

// Send implements peer.Conn.
func (l *liveConn) Send(ctx context.Context, m *wire.Message) error {
	if _, _, ended := l.ended(); ended {
		return errEnded
	}
	return l.conn.Send(ctx, m)
}

// Bind implements peer.Binder when the wrapped connection does.
func (l *liveConn) Bind(ctx context.Context) (release func() bool) {
	if b, ok := l.conn.(peer.Binder); ok {
		return b.Bind(ctx)
	}
	return func() bool { return true }
}

// end closes the connection with code and reason (the first call wins):
// the session stops reading and writing at once, the WebSocket close
// handshake runs in the background, and the session's context is
// cancelled when it is done.
func (l *liveConn) end(code websocket.StatusCode, reason string) {
	l.mu.Lock()
	first := l.code == 0
	if first {
		l.code, l.reason = code, reason
	}
	l.mu.Unlock()
	if !first {
		return
	}
	go func() {
		_ = l.ws.Close(code, reason)
		l.cancel()
	}()
}

// abort is end for a connection whose writes are stuck (a slow
// consumer): the WebSocket is closed at once, without the close
// handshake, whose frame would queue behind the stuck write; the stuck
// write then fails.
func (l *liveConn) abort(code websocket.StatusCode, reason string) {
	l.mu.Lock()
	first := l.code == 0
	if first {
		l.code, l.reason = code, reason
	}
	l.mu.Unlock()
	if first {
		_ = l.ws.CloseNow()
		l.cancel()
	}
}

// ended returns the close code and reason set by end, if any.
func (l *liveConn) ended() (websocket.StatusCode, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.code, l.reason, l.code != 0
}

// liveSet is the endpoint's registry of served connections by device
// and by user.
type liveSet struct {
	mu       sync.Mutex
	byDevice map[model.DeviceID]map[*liveConn]struct{}
	byUser   map[model.UserID]map[*liveConn]struct{}
	byPeer   map[string]map[*liveConn]struct{} // by the peer id joined with
	gone     *goneIDs                          // the accounts of peer ids no live connection has
	sweeping bool                              // a keepalive sweep is scheduled (keepalive.go)
}

func index[K comparable](m map[K]map[*liveConn]struct{}, k K, l *liveConn) {
	if m[k] == nil {
		m[k] = map[*liveConn]struct{}{}
	}
	m[k][l] = struct{}{}
}

func unindex[K comparable](m map[K]map[*liveConn]struct{}, k K, l *liveConn) {
	delete(m[k], l)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// register adds a connection of caller, whose remote joined as peer
// peerID, over conn (the WebSocket ws) and
// returns the context its session runs in (cancelled once the connection
// is ended by revocation or expiry) and its entry, which is the Conn the
// session must use and is passed to unregister when the session ends.
// It refuses, registering nothing, a peer id that checkPeerID refuses,
// the relay's own (which every message the relay sends names), or one
// that a connection of another user joined with, live or ended within
// WithPeerIDMemory's window (ErrPeerID): the relay names senders by the
// id they joined with (ephemeral messages), so one user must not speak
// under another's, nor hold the id so that its owner's reconnects are
// refused.
func (e *Endpoint) register(ctx context.Context, caller Caller, peerID string, ws *websocket.Conn, conn peer.Conn) (context.Context, *liveConn, error) {
	if err := checkPeerID(caller, peerID); err != nil {
		return nil, nil, err
	}
	if peerID == e.opts.peerID {
		return nil, nil, fmt.Errorf("%w: %s is the relay's own", ErrPeerID, safetext.Quote(peerID))
	}
	e.live.mu.Lock()
	for other := range e.live.byPeer[peerID] {
		if other.caller.User != caller.User {
			e.live.mu.Unlock()
			return nil, nil, fmt.Errorf("%w: %s is in use by another account's connection", ErrPeerID, safetext.Quote(peerID))
		}
	}
	if user, ok := e.live.gone.owner(peerID, e.opts.now()); ok && user != caller.User {
		e.live.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: %s was used by another account's connection less than %v ago", ErrPeerID, safetext.Quote(peerID), e.opts.peerWindow)
	}
	ctx, cancel := context.WithCancel(ctx)
	l := &liveConn{caller: caller, peerID: peerID, conn: conn, ws: ws, ctx: ctx, cancel: cancel}
	l.act.Store(actHeard)
	if e.live.byDevice == nil {
		e.live.byDevice = map[model.DeviceID]map[*liveConn]struct{}{}
		e.live.byUser = map[model.UserID]map[*liveConn]struct{}{}
		e.live.byPeer = map[string]map[*liveConn]struct{}{}
	}
	if caller.Device != "" {
		index(e.live.byDevice, caller.Device, l)
	}
	index(e.live.byUser, caller.User, l)
	index(e.live.byPeer, peerID, l)
	e.startSweepLocked()
	e.live.mu.Unlock()
	if !caller.Expires.IsZero() {
		expire := func() { l.end(peer.CloseUnauthorized, reasonExpired) }
		if d := caller.Expires.Sub(e.opts.now()); d > 0 {
			l.stop = e.opts.after(d, expire)
		} else {
			expire()
		}
	}
	return ctx, l, nil
}

// checkPeerID refuses a peer id of a Segue device's form (its device id,
// 32 lower-case hex digits, then "-" and a suffix of the connection's
// own) that names a device other than caller's: a device's peer ids
// start with its own id (core's sync), and stock automerge-repo clients'
// random ids do not have this form.
func checkPeerID(caller Caller, id string) error {
	dev, ok := deviceOf(id)
	if !ok || dev == caller.Device {
		return nil
	}
	return fmt.Errorf("%w: %s names another device", ErrPeerID, safetext.Quote(id))
}

// deviceOf returns the device a peer id of a Segue device's form names.
func deviceOf(id string) (model.DeviceID, bool) {
	dev, _, ok := strings.Cut(id, "-")
	if !ok || len(dev) != 32 || strings.Trim(dev, "0123456789abcdef") != "" {
		return "", false
	}
	return model.DeviceID(dev), true
}

// livePeer reports whether user has a live connection whose remote
// joined as peer id.
func (e *Endpoint) livePeer(user model.UserID, id string) bool {
	e.live.mu.Lock()
	defer e.live.mu.Unlock()
	for l := range e.live.byPeer[id] {
		if l.caller.User == user {
			return true
		}
	}
	return false
}

// unregister removes l from the registry and stops its expiry timer.
// The peer id's account is remembered (WithPeerIDMemory) unless the id
// is of a device's form, which checkPeerID binds to its device for good.
func (e *Endpoint) unregister(l *liveConn) {
	if l.stop != nil {
		l.stop()
	}
	l.cancel()
	e.live.mu.Lock()
	if l.caller.Device != "" {
		unindex(e.live.byDevice, l.caller.Device, l)
	}
	unindex(e.live.byUser, l.caller.User, l)
	unindex(e.live.byPeer, l.peerID, l)
	if _, dev := deviceOf(l.peerID); !dev {
		e.live.gone.remember(l.peerID, l.caller.User, e.opts.now())
	}
	e.live.mu.Unlock()
}

// RevokeDevice ends every live connection of device at once: its session
// stops reading and writing and the WebSocket closes with
// peer.CloseRevoked. When notice is not empty (a catalog-signed
// crypto.IssueRevocation of the device), it is sent as a
// wire.TypeDeviceRevoked message to user's other live connections, so
// their devices refuse LAN sessions with the revoked one (each send
// bounded by one second). It returns how many connections it closed.
// Call it after the deletion is committed: a reconnect then fails
// authentication.
func (e *Endpoint) RevokeDevice(ctx context.Context, user model.UserID, device model.DeviceID, notice []byte) int {
	e.live.mu.Lock()
	var closing, others []*liveConn
	for l := range e.live.byDevice[device] {
		closing = append(closing, l)
	}
	for l := range e.live.byUser[user] {
		if l.caller.Device != device {
			others = append(others, l)
		}
	}
	e.live.mu.Unlock()
	for _, l := range closing {
		l.end(peer.CloseRevoked, reasonRevoked)
	}
	if len(notice) > 0 {
		for _, l := range others {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), revokeSendTimeout)
			m := &wire.Message{Type: wire.TypeDeviceRevoked, SenderID: e.opts.peerID, Data: notice}
			if err := l.conn.Send(sctx, m); err != nil {
				e.opts.log.Debug("relaysync: send revocation", "user", user, "err", err)
			}
			cancel()
		}
	}
	e.opts.log.Info("relaysync: device revoked", "user", user, "device", device, "closed", len(closing), "notified", len(others))
	return len(closing)
}

// ServeCaller is ServeUser for a caller whose device and token expiry
// the embedding server knows (the relay's device-token middleware): the
// connection is registered so RevokeDevice can end it, and it is closed
// with peer.CloseUnauthorized when the token expires.
func (e *Endpoint) ServeCaller(w http.ResponseWriter, r *http.Request, caller Caller) {
	e.serve(w, r, caller)
}
