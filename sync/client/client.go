package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/internal/ctxsleep"
	"github.com/segue-fm/segue/internal/retryafter"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Transport opens one connection to the sync peer (the relay or a LAN
// device). close releases it.
type Transport interface {
	Dial(ctx context.Context) (c peer.Conn, close func(), err error)
}

// WebSocket dials the relay's GET /v1/sync endpoint. URL is the ws:// or
// wss:// endpoint URL; Token is the device token, sent in the
// Authorization header (never in the URL, which dial errors, proxies and
// logs repeat). The connection queues its writes (peer.DialWebSocket:
// the messages a session writes at once leave in one system call).
type WebSocket struct {
	URL         string
	Token       string
	Compression bool
	MaxFrame    int
	HTTPClient  *http.Client
}

// Dial implements Transport.
func (w WebSocket) Dial(ctx context.Context) (peer.Conn, func(), error) {
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil, nil, fmt.Errorf("client: relay url: %w", err)
	}
	mode := websocket.CompressionDisabled
	if w.Compression {
		mode = websocket.CompressionContextTakeover
	}
	c, resp, err := peer.DialWebSocket(ctx, u.String(), &websocket.DialOptions{
		CompressionMode: mode, HTTPClient: w.HTTPClient,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + w.Token}},
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, nil, fmt.Errorf("%w: dial relay: %v", ErrUnauthorized, err)
		}
		if busy := retryafter.FromResponse(resp, time.Now()); busy != nil {
			return nil, nil, fmt.Errorf("client: dial relay: %w", busy)
		}
		return nil, nil, fmt.Errorf("client: dial relay: %w", err)
	}
	return peer.NewWSConn(c, w.MaxFrame), func() { c.CloseNow() }, nil
}

// Options configure a Client. Start from DefaultOptions.
type Options struct {
	peerID, storageID   string
	minBackoff, maxBack time.Duration
	seed                uint64
	sleep               func(ctx context.Context, d time.Duration) error
	now                 func() time.Time
	log                 *slog.Logger
	onRevocation        func(notice []byte)
	pushRate, pushBurst float64
}

// DefaultPushRate and DefaultPushBurst bound, by default, the messages
// a client starts itself (WithPushRate): 30 per second in bursts of 60.
// The relay limits what a device starts itself to 100 messages/s in
// bursts of 2,200 per connection (relaysync.WithRate; answers to its
// pushes are free), and each message a device starts may draw up to two
// more of its own in the exchange that follows (its changes once the
// relay said what it lacks, then its acknowledgement of the relay's
// changes): 3 × 30/s and 3 × 60 + the join stay within the relay's
// defaults. A device with 1,000 documents thus sends its first syncs in
// ≈ 32 s after connecting instead of at once — and is not closed.
const (
	DefaultPushRate  = 30
	DefaultPushBurst = 60
)

// DefaultOptions returns: peer and storage id "device", backoff from
// 500 ms doubling to 1 min with full jitter seeded with 1, real sleeping
// and the wall clock, slog.Default, and DefaultPushRate pushes per
// second in bursts of DefaultPushBurst.
func DefaultOptions() Options {
	return Options{
		peerID: "device", storageID: "device",
		minBackoff: 500 * time.Millisecond, maxBack: time.Minute, seed: 1,
		sleep: ctxsleep.Sleep,
		now:   time.Now, log: slog.Default(),
		pushRate: DefaultPushRate, pushBurst: DefaultPushBurst,
	}
}

// WithPushRate bounds the sync messages the client starts itself — its
// documents' first syncs after connecting, its local changes — to
// perSecond per second on the client's clock (WithClock), in bursts of
// burst (peer.Session.PushRate); answers to the relay are not held.
// perSecond 0 sends them at once, which a relay closes past its own
// rate (relaysync.WithRate). Default DefaultPushRate, DefaultPushBurst.
func (o Options) WithPushRate(perSecond, burst float64) Options {
	o.pushRate, o.pushBurst = max(perSecond, 0), burst
	return o
}

// WithIdentity sets the peer id (unique per connection owner) and the
// storage id (stable for the device's store: sync states are resumed
// per storage id). Default "device" for both.
func (o Options) WithIdentity(peerID, storageID string) Options {
	o.peerID, o.storageID = peerID, storageID
	return o
}

// WithBackoff sets the reconnect delays: the first retry waits up to min,
// each failure doubles the cap up to max; the wait is uniformly random
// in [0, cap) from a PCG seeded with seed. Default 500 ms, 1 min, 1.
func (o Options) WithBackoff(min, max time.Duration, seed uint64) Options {
	o.minBackoff, o.maxBack, o.seed = min, max, seed
	return o
}

// WithClock sets the clock and the sleep function used between
// reconnects (a fake clock in simulations). Default: time.Now and a
// real timer.
func (o Options) WithClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) Options {
	o.now, o.sleep = now, sleep
	return o
}

// WithLogger sets the logger. Default slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.log = l; return o }

// WithRevocationHandler sets fn to receive the revocation notices the
// relay sends when another device of the account is deregistered
// (wire.TypeDeviceRevoked; fn verifies them, see crypto.VerifyRevocation).
// fn runs on the session's goroutine and must not block. Default none:
// notices are ignored.
func (o Options) WithRevocationHandler(fn func(notice []byte)) Options {
	o.onRevocation = fn
	return o
}

// Status is a snapshot of a client's sync state.
type Status struct {
	Connected bool
	// Remote is the connected peer's id ("" when disconnected).
	Remote string
	// LastSync is when the last sync message was exchanged (zero: never).
	LastSync time.Time
	// Attempts counts connection attempts since the last success.
	Attempts int
	// LastError is the error that ended the last connection, if any.
	LastError string
	// Refused lists the documents the remote refused (an error message
	// or doc-unavailable naming them), sorted by id. An entry stays until
	// a sync message from the remote shows it holds every local change
	// of the document — except one whose refused changes the client set
	// aside (Refusal.SetAside > 0), which stays for the client's
	// lifetime so that the user learns the edit was undone, and no
	// longer counts as refused for InSync (the document syncs again).
	// The slice is the caller's.
	Refused []Refusal
	// AuthRefused reports that the relay refused the device's credentials
	// (ErrRevoked, ErrUnauthorized): Run has returned and does not
	// reconnect with them.
	AuthRefused bool
}

// Refusal is one document the remote refused and why.
type Refusal struct {
	Doc docs.DocumentID
	// Reason is the remote's message (peer.ReasonUnavailable for
	// doc-unavailable).
	Reason string
	// At is when the (latest) refusal arrived.
	At time.Time
	// SetAside counts the local changes of the document the client set
	// aside because the remote refused them (the rule named in the
	// refusal: an ACL change by a collaborator, a write by a reader):
	// the local document was rebuilt without them and every change made
	// on top of them, and syncs again.
	SetAside int
}

// Client keeps a device's documents in sync with one remote peer: it
// connects, announces every document of the repository, resumes from the
// persisted sync states, and reconnects with backoff when the
// connection drops. Whether the last sync was a minute or a month ago
// makes no difference: Automerge's sync protocol works from heads.
type Client struct {
	repo peer.Repo
	tr   Transport
	opts Options

	mu         sync.Mutex
	status     Status
	refused    map[docs.DocumentID]Refusal
	session    *peer.Session
	relayMeta  *wire.PeerMetadata // the relay's handshake metadata in this connection
	want       []docs.DocumentID
	wanted     map[docs.DocumentID]bool // the ids in want
	synced     chan struct{}
	refusedErr error                    // why Run stopped for good (AuthRefused)
	heard      map[docs.DocumentID]bool // the remote sent a sync message in this connection
	gone       map[docs.DocumentID]bool // the remote said doc-unavailable in this connection

	watchers    map[int]func(ActivityEvent) // WatchActivity callbacks
	nextWatcher int
}

// New returns a client syncing repo (normally a peer.RepoAdapter over the
// device's sync/repo.Repo) over tr. Every document that changes locally
// or arrives from elsewhere (a LAN peer) is pushed while connected.
func New(repo peer.Repo, tr Transport, opts Options) *Client {
	return &Client{repo: repo, tr: tr, opts: opts, synced: make(chan struct{}, 1), refused: map[docs.DocumentID]Refusal{}, wanted: map[docs.DocumentID]bool{}}
}

// Status returns a snapshot of the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.status
	st.Refused = make([]Refusal, 0, len(c.refused))
	for _, r := range c.refused {
		st.Refused = append(st.Refused, r)
	}
	slices.SortFunc(st.Refused, func(a, b Refusal) int { return cmp.Compare(a.Doc.String(), b.Doc.String()) })
	return st
}

// refusedBy records that the remote refused document id.
func (c *Client) refusedBy(id docs.DocumentID, reason string) {
	if reason == peer.ReasonUnavailable {
		// Often transient: a shared document another device has not
		// synced to the relay yet. Cleared when the document arrives.
		c.opts.log.Info("client: document unavailable", "doc", id.String())
	} else {
		c.opts.log.Warn("client: document refused", "doc", id.String(), "reason", reason)
	}
	c.mu.Lock()
	c.refused[id] = Refusal{Doc: id, Reason: reason, At: c.opts.now(), SetAside: c.refused[id].SetAside}
	c.mu.Unlock()
	c.notify()
}

// setAside records that n refused changes of document id were set
// aside.
func (c *Client) setAside(id docs.DocumentID, n int) {
	c.opts.log.Warn("client: refused changes set aside", "doc", id.String(), "changes", n)
	c.mu.Lock()
	r := c.refused[id]
	r.Doc, r.SetAside = id, r.SetAside+n
	c.refused[id] = r
	c.mu.Unlock()
	c.notify()
}

// accepted forgets a refusal of document id, unless refused changes of
// it were set aside (see Status.Refused).
func (c *Client) accepted(id docs.DocumentID) {
	c.mu.Lock()
	if c.refused[id].SetAside == 0 {
		delete(c.refused, id)
	}
	c.mu.Unlock()
}

// notify signals Synced without blocking.
func (c *Client) notify() {
	select {
	case c.synced <- struct{}{}:
	default:
	}
}

// Want adds documents to sync even if the repository does not hold them
// yet (opening a shared playlist by URL); they are requested from the
// remote on the next (or current) connection.
func (c *Client) Want(ids ...docs.DocumentID) {
	c.mu.Lock()
	for _, id := range ids {
		if !c.wanted[id] {
			c.wanted[id] = true
			c.want = append(c.want, id)
		}
	}
	s := c.session
	c.mu.Unlock()
	if s != nil {
		s.Want(ids...)
	}
}

// SyncNow offers every local document to the connected remote at once.
// It returns ErrDisconnected when there is no connection.
func (c *Client) SyncNow(ctx context.Context) error {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s == nil {
		return ErrDisconnected
	}
	ids, err := c.repo.IDs(ctx)
	if err != nil {
		return err
	}
	s.Want(ids...)
	return nil
}

// Errors of the client.
var (
	// ErrDisconnected is returned by SyncNow when the client is not
	// connected.
	ErrDisconnected = errors.New("client: not connected")
	// ErrUnsupported is returned by PublishActivity when the relay did
	// not announce wire.FeatureActivityPublish in its handshake (a relay
	// older than the message): publish another way.
	ErrUnsupported = errors.New("client: the relay does not take this on the sync connection")
	// ErrUnauthorized is returned by Run when the relay refuses the
	// token (HTTP 401 on connect, or the connection closed with
	// peer.CloseUnauthorized when the token expired): reconnecting with
	// the same token cannot succeed, so Run stops.
	ErrUnauthorized = errors.New("client: unauthorized")
	// ErrRevoked is returned by Run when the relay closed the connection
	// because the device was deregistered (peer.CloseRevoked).
	ErrRevoked = errors.New("client: device revoked")
	// ErrRetryLater matches the relay's temporary refusal of the
	// connection before the upgrade (429, 503): Run waits at least the
	// relay's Retry-After (capped at MaxRetryAfter) before dialling
	// again. It is api.ErrRetryLater; errors.As finds the wait in an
	// *api.RetryLaterError.
	ErrRetryLater = retryafter.ErrRetryLater
)

// MaxRetryAfter bounds the wait a relay's Retry-After imposes on Run
// (5 min, api.MaxRetryAfter).
const MaxRetryAfter = retryafter.Max

// refused classifies an error that ended a connection: ErrRevoked or
// ErrUnauthorized when the relay refused the credentials, else err.
func refused(err error) error {
	switch websocket.CloseStatus(err) {
	case peer.CloseRevoked:
		return fmt.Errorf("%w: %v", ErrRevoked, err)
	case peer.CloseUnauthorized:
		return fmt.Errorf("%w: %v", ErrUnauthorized, err)
	}
	return err
}

// Run connects and syncs until ctx ends, reconnecting with exponential
// backoff and jitter after every failure; after a temporary refusal
// (ErrRetryLater) the wait is at least the relay's Retry-After (at most
// MaxRetryAfter) plus a jitter of up to the first backoff, so the devices
// a busy relay turned away do not all return in the same second; a
// refusal without a valid Retry-After waits the backoff alone. A connection the relay
// closed with websocket.StatusTryAgainLater (its disk full: relaysync.ErrStorageFull) or
// websocket.StatusInternalError (relaysync.ErrInternal) does not reset the backoff, so a device whose changes cannot be stored waits longer each time
// instead of sending them again every first backoff. It returns ctx's error, or
// ErrRevoked / ErrUnauthorized (wrapped) as soon as the relay refuses
// the device's credentials: it never retries them.
func (c *Client) Run(ctx context.Context) error {
	rng := rand.New(rand.NewPCG(c.opts.seed, c.opts.seed^0x9e3779b97f4a7c15))
	ceiling := c.opts.minBackoff
	for {
		c.mu.Lock()
		c.status.Attempts++
		c.mu.Unlock()
		connected, err := c.once(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		stop := errors.Is(err, ErrRevoked) || errors.Is(err, ErrUnauthorized)
		c.mu.Lock()
		c.status.Connected, c.status.Remote, c.session, c.relayMeta = false, "", nil, nil
		if err != nil {
			c.status.LastError = err.Error()
		}
		c.status.AuthRefused = stop
		if stop {
			c.refusedErr = err
		}
		c.mu.Unlock()
		c.notify()
		if stop {
			c.opts.log.Warn("client: relay refused the device's credentials; not reconnecting", "err", err)
			return err
		}
		if code := websocket.CloseStatus(err); connected && code != websocket.StatusTryAgainLater && code != websocket.StatusInternalError {
			ceiling = c.opts.minBackoff
		}
		wait := time.Duration(rng.Int64N(int64(ceiling)) + 1)
		if after, ok := retryafter.Wait(err); ok {
			wait = max(wait, after+time.Duration(rng.Int64N(int64(c.opts.minBackoff))+1))
		}
		c.opts.log.Info("client: disconnected", "err", err, "retry_in", wait)
		if err := c.opts.sleep(ctx, wait); err != nil {
			return err
		}
		ceiling = min(2*ceiling, c.opts.maxBack)
	}
}

// once runs one connection; connected reports whether the handshake
// succeeded.
func (c *Client) once(ctx context.Context) (connected bool, err error) {
	conn, closeConn, err := c.tr.Dial(ctx)
	if err != nil {
		return false, err
	}
	defer closeConn()
	pm, err := peer.ClientHandshake(ctx, conn, c.opts.peerID, wire.PeerMetadata{StorageID: c.opts.storageID})
	if err != nil {
		return false, err
	}
	s := &peer.Session{
		Repo: c.repo, Authz: peer.AllowAll, LocalID: c.opts.peerID, RemoteID: pm.SenderID,
		RemoteStorage: peer.RemoteStorage(pm), Conn: conn, Log: c.opts.log, FollowAll: true, OfferAll: true, Now: c.opts.now,
		PushRate: c.opts.pushRate, PushBurst: c.opts.pushBurst,
		OnSynced: func(id docs.DocumentID, at time.Time) {
			c.mu.Lock()
			c.status.LastSync = at
			c.heard[id] = true
			c.mu.Unlock()
			c.notify()
		},
		OnRevocation: c.opts.onRevocation,
		OnUnavailable: func(id docs.DocumentID) {
			c.mu.Lock()
			c.gone[id] = true
			c.mu.Unlock()
			c.notify()
		},
		OnRefused:       c.refusedBy,
		SetAsideRefused: true,
		OnSetAside:      c.setAside,
		OnAccepted:      c.accepted,
		OnActivity:      c.onActivity,
	}
	c.mu.Lock()
	s.Want(c.want...)
	c.session, c.relayMeta = s, pm.PeerMetadata
	c.heard, c.gone = map[docs.DocumentID]bool{}, map[docs.DocumentID]bool{}
	c.status.Connected, c.status.Remote, c.status.Attempts, c.status.LastError = true, pm.SenderID, 0, ""
	watched := len(c.watchers) > 0
	c.mu.Unlock()
	if watched {
		c.sendActivity(s, wire.TypeActivitySubscribe)
	}
	return true, refused(s.Run(ctx))
}

// Synced returns a channel that receives (coalesced) after sync
// messages are exchanged, after the remote refuses a document or answers
// doc-unavailable and after the connection drops; tests and UIs use it to
// wait for progress (InSync tells whether it is complete).
func (c *Client) Synced() <-chan struct{} { return c.synced }

// AuthRefused returns the error with which Run stopped because the relay
// refused the device's credentials (wrapping ErrRevoked or
// ErrUnauthorized), or nil.
func (c *Client) AuthRefused() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refusedErr
}

// InSync reports whether the client is connected and in sync: for every
// document of the repository and every wanted one, the remote has
// answered in the current connection, and both sides hold the same
// changes (peer.Session.InSync) — or the remote said it does not have
// the document, or refused it (Status.Refused: the remote will not take
// the local changes, so waiting longer changes nothing). A connected remote answers every document the client
// announces, even when it has nothing new, so an up-to-date device
// reaches InSync after one round trip.
func (c *Client) InSync(ctx context.Context) (bool, error) {
	c.mu.Lock()
	s := c.session
	heard, gone := maps.Clone(c.heard), maps.Clone(c.gone)
	for id, r := range c.refused {
		if r.SetAside == 0 {
			gone[id] = true
		}
	}
	want := slices.Clone(c.want)
	c.mu.Unlock()
	if s == nil {
		return false, nil
	}
	ids, err := c.repo.IDs(ctx)
	if err != nil {
		return false, err
	}
	for _, id := range append(ids, want...) {
		if gone[id] {
			// A refusal whose set-aside is still being reported is not
			// settled: this snapshot of refused may lack its count.
			if s.HandlingRefusal(id) {
				return false, nil
			}
			continue
		}
		if !heard[id] {
			return false, nil
		}
		ok, err := s.InSync(ctx, id)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}
