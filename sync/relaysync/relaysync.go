package relaysync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"
	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ErrUnauthenticated is returned (HTTP 401) when the request carries no
// valid device token.
var ErrUnauthenticated = errors.New("relaysync: unauthenticated")

// Options configure an Endpoint. Start from DefaultOptions.
type Options struct {
	maxFrame     int
	maxDocs      int
	rate         float64
	burst        float64
	now          func() time.Time
	compression  bool
	takeover     bool
	threshold    int
	authenticate func(r *http.Request) (model.UserID, error)
	log          *slog.Logger
	peerID       string
	dedupWindow  time.Duration
	dedupMax     int
	after        func(d time.Duration, f func()) (stop func() bool)
	pace         time.Duration
	window       time.Duration
	ephRate      float64 // bytes/s, WithEphemeralRate
	ephBurst     float64

	peerWindow           time.Duration // peerids.go
	peerPerUser, peerMax int

	maxSessions, maxUserSessions int           // sessions.go
	handshake                    time.Duration // sessions.go
	keepalive                    time.Duration // keepalive.go
	slots                        Slots         // sessions.go
}

// DefaultMaxDocsPerUser is how many documents one user may create on the
// relay unless WithMaxDocsPerUser says otherwise.
const DefaultMaxDocsPerUser = 1000

// DefaultRate and DefaultBurst are a connection's rate limit by default
// (WithRate): 100 messages/s of its own in bursts of 2,200, beyond
// answers to the relay's pushes. A device starts few messages of its own
// (its edits, its documents' first syncs, which sync/client paces well
// below) and answers the pushes on credit; a remote past the limit
// costs the relay's core what it sends (each request or edit is
// answered). The burst lets a client that does not pace (a stock
// automerge-repo client) announce at once, after connecting, every
// document a user may create (DefaultMaxDocsPerUser) and as many it
// follows, with room to spare, instead of being closed on every
// reconnect; a flood then gets that many messages answered once per
// connection and DefaultRate a second after.
const (
	DefaultRate  = 100
	DefaultBurst = 2*DefaultMaxDocsPerUser + 200
)

// DefaultOptions returns: 1 MiB frames, 1,000 documents created per user,
// DefaultRate messages/s per connection with bursts of DefaultBurst
// beyond answers to the relay's pushes, the wall clock,
// permessage-deflate on without context takeover for messages of
// DefaultCompressionThreshold bytes or more, slog.Default, ephemeral
// de-duplication over the last 10 minutes and at most 100,000 (sender,
// session) pairs, time.AfterFunc to close connections at token expiry,
// sync messages paced at DefaultPace (with time.AfterFunc's timers) and
// no window (DefaultWindow), and an authenticator that rejects every
// request (set one with WithAuthenticator), at most DefaultMaxSessions
// connections at once and DefaultMaxUserSessions per user,
// DefaultHandshakeTimeout for a connection's join, sessions pinged
// and closed when silent by a keepalive of period DefaultKeepalive, and
// gone peer ids kept for their account as WithPeerIDMemory's defaults
// say.
func DefaultOptions() Options {
	return Options{
		maxFrame: wire.MaxFrameSize, maxDocs: DefaultMaxDocsPerUser, rate: DefaultRate, burst: DefaultBurst,
		now: time.Now, compression: true, threshold: DefaultCompressionThreshold, log: slog.Default(),
		dedupWindow: 10 * time.Minute, dedupMax: 100_000, after: afterFunc, pace: DefaultPace, window: DefaultWindow,
		maxSessions: DefaultMaxSessions, maxUserSessions: DefaultMaxUserSessions, handshake: DefaultHandshakeTimeout,
		keepalive: DefaultKeepalive, ephRate: DefaultEphemeralRate, ephBurst: DefaultEphemeralBurst,
		peerWindow: DefaultPeerIDWindow, peerPerUser: DefaultPeerIDsPerUser, peerMax: DefaultPeerIDs,
		authenticate: func(*http.Request) (model.UserID, error) { return "", ErrUnauthenticated },
	}
}

// WithMaxFrame caps one message at n bytes. Default 1 MiB.
func (o Options) WithMaxFrame(n int) Options { o.maxFrame = n; return o }

// WithMaxDocsPerUser caps how many documents one user may create on the
// relay. Default 1,000.
func (o Options) WithMaxDocsPerUser(n int) Options { o.maxDocs = n; return o }

// WithRate sets the per-connection token bucket for the messages a
// remote sends of its own accord: perSecond messages sustained, burst at
// once; its answers to the relay's pushes (peer.Session.OnPush) come on
// top. Default DefaultRate/s, burst DefaultBurst.
func (o Options) WithRate(perSecond, burst float64) Options {
	o.rate, o.burst = perSecond, burst
	return o
}

// DefaultEphemeralRate and DefaultEphemeralBurst are a user's budget of
// ephemeral message bytes by default, shared by the user's connections:
// 64 KiB/s sustained, 256 KiB at once (and so at most 256 KiB in one
// message). The relay
// sends each ephemeral message to every other follower of its document,
// so without a budget of its own one reader of a popular public
// playlist made the relay send what it sent times the followers, up to
// the message rate's burst of 1 MiB frames (2.2 GB to each follower);
// presence and cursor messages, what automerge-repo clients send, are a
// few hundred bytes.
const (
	DefaultEphemeralRate  = 64 << 10
	DefaultEphemeralBurst = 256 << 10
)

// WithEphemeralRate sets the token bucket for the bytes of ephemeral
// message data one user's connections send together: bytesPerSecond
// sustained, burst at once. A message past it is not forwarded, and the remote is
// sent an error naming its document (ErrEphemeralRate). Values ≤ 0 keep
// the defaults, DefaultEphemeralRate and DefaultEphemeralBurst.
func (o Options) WithEphemeralRate(bytesPerSecond, burst float64) Options {
	if bytesPerSecond > 0 {
		o.ephRate = bytesPerSecond
	}
	if burst > 0 {
		o.ephBurst = burst
	}
	return o
}

// WithEphemeralDedup bounds the ephemeral de-duplication table: a
// (sender, session) pair is forgotten window after it was last seen, and
// the least recently seen pairs are dropped beyond max entries (a
// forgotten pair's next message is forwarded again). Values ≤ 0 keep the
// defaults, 10 minutes and 100,000.
func (o Options) WithEphemeralDedup(window time.Duration, max int) Options {
	if window > 0 {
		o.dedupWindow = window
	}
	if max > 0 {
		o.dedupMax = max
	}
	return o
}

// DefaultPace is how long, by default, a document's next sync message
// to a peer may wait for the peer's answer to the last one (WithPace).
const DefaultPace = 25 * time.Millisecond

// WithPace sets peer.Session.Pace for every session: a document's sync
// messages to one peer go one per round trip, the changes made while
// the last is unanswered wait (at most d) and leave in one message. A
// collaborative playlist's burst of edits then costs each follower one
// message and one acknowledgement per round trip instead of one per
// edit; a quiet document's change leaves at once. 0 sends every change
// at once; negative values mean 0. Default DefaultPace.
func (o Options) WithPace(d time.Duration) Options { o.pace = max(d, 0); return o }

// DefaultWindow is how often, by default, a document's sync messages
// with changes may leave for one peer (WithWindow): 0, no window. A
// window cuts the messages of busy shared playlists but delays every
// change that follows another within it, which at moderate load costs
// more latency than it saves CPU (docs/BENCHMARKS.md, "a window per
// follower"); a relay near its core's limit turns it on.
const DefaultWindow time.Duration = 0

// WithWindow sets peer.Session.Window for every session: a document's
// sync messages that carry changes leave for one peer at most once per
// d, the changes made sooner together at the window's end, while a
// peer's own edit is still answered at once. A collaborative playlist
// taking an edit every few milliseconds then costs each follower one
// message and one acknowledgement per d instead of one per edit; a
// change reaches a follower at most d later. 0 holds nothing for a
// window; negative values mean 0. Default DefaultWindow.
func (o Options) WithWindow(d time.Duration) Options { o.window = max(d, 0); return o }

// WithClock sets the clock of the rate limiter and of the ephemeral
// de-duplication window. Default time.Now.
func (o Options) WithClock(now func() time.Time) Options { o.now = now; return o }

// WithCompression turns permessage-deflate on or off. Default on.
func (o Options) WithCompression(on bool) Options { o.compression = on; return o }

// DefaultCompressionThreshold is the size from which the relay deflates
// a message by default. An edit's sync message (a few hundred bytes of
// hashes, a Bloom filter and an already column-compressed change) gains
// little from deflate, and a catch-up message of up to ≈ 60 changes (a
// follower behind a busy relay, a device back online) halves but costs
// a fresh Huffman code and block per message: ≈ 20 times the cost of
// writing it as is (BenchmarkWriteCatchUp), and the more a relay falls
// behind the more it deflates (22 % of its CPU in synccap scenario (a)
// behind at 600 edits/s). First syncs and other big messages are still
// compressed.
const DefaultCompressionThreshold = 8192

// WithCompressionThreshold sets the size in bytes from which a message
// is deflated (when compression is on); smaller ones are sent as they
// are. n ≤ 0 keeps the default, DefaultCompressionThreshold.
func (o Options) WithCompressionThreshold(n int) Options {
	if n > 0 {
		o.threshold = n
	}
	return o
}

// WithContextTakeover chooses permessage-deflate context takeover: on,
// each connection keeps its own compressor and 32 KiB window between
// messages (≈1.2 MiB of heap per connection, even idle — 12 GiB for
// 10,000 peers); off (the default), each message from the compression
// threshold up is compressed on its own with a pooled compressor, so an idle peer
// costs no compression memory. Automerge sync messages are binary and
// already column-compressed, so the shared window gains little; a relay
// holding many mostly idle peers wants it off. Clients that offered
// takeover are told server_no_context_takeover and
// client_no_context_takeover (RFC 7692), which every client must accept.
func (o Options) WithContextTakeover(on bool) Options { o.takeover = on; return o }

// WithAuthenticator sets how a request maps to a user: the relay's
// device-token check (the token arrives as the `token` query parameter,
// since browsers cannot set headers on WebSockets). Default: reject all.
func (o Options) WithAuthenticator(fn func(r *http.Request) (model.UserID, error)) Options {
	o.authenticate = fn
	return o
}

// WithLogger sets the logger. Default slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.log = l; return o }

// WithPeerID fixes the relay's peer id. Default: "relay-" + 8 random
// bytes in hex, chosen by New.
func (o Options) WithPeerID(id string) Options { o.peerID = id; return o }

// Endpoint is the relay's automerge-repo WebSocket endpoint. It is an
// http.Handler and, through Handle, an Echo handler.
type Endpoint struct {
	repo  peer.Repo
	st    store.Store
	authz peer.Authorizer
	opts  Options

	fanout *peer.Fanout

	mu       sync.Mutex
	sessions map[*peer.Session]*ephOutbox // the ephemeral messages waiting for each
	seen     *dedup                       // ephemeral (sender, session) → highest count
	docMu    sync.Mutex
	live     liveSet // connections by device and user (RevokeDevice)

	activity    ActivitySource // guarded by mu; nil: subscriptions refused
	activityLim ActivityLimits // guarded by mu
	slow        atomic.Uint64  // connections closed as slow consumers
	published   atomic.Uint64  // activity publications accepted
	pubRefused  atomic.Uint64  // activity publications refused
	slowWatch   slowWatch

	open    atomic.Int64         // connections admitted (WithMaxSessions)
	perUser map[model.UserID]int // guarded by mu: admitted connections per user
	refused atomic.Uint64        // connections refused by WithMaxSessions

	ephemeral map[model.UserID]*sharedBucket // guarded by mu: WithEphemeralRate's budget per user

	ka        keepaliveStats // keepalive.go
	timedOut  atomic.Uint64  // sessions ended by a write deadline
	pingSlots chan struct{}  // keepalive pings waiting for pongs (maxPings)
}

// New returns an endpoint serving the documents of repo (normally a
// peer.RepoAdapter over the relay's sync/repo.Repo), whose store is st
// (the endpoint records there, in the transaction that first stores a
// document, its owner under own/<doc> and the creation under
// udoc/<user>/<doc>; see owners.go), authorising with authz, which it
// gives the recorded owner. Run RecordOwners once on a store written by
// an older relay before serving it.
func New(repo peer.Repo, st store.Store, authz peer.Authorizer, opts Options) *Endpoint {
	if opts.peerID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.peerID = "relay-" + hex.EncodeToString(b[:])
	}
	return &Endpoint{repo: repo, st: st, authz: authz, opts: opts, fanout: peer.NewFanout(repo),
		sessions: map[*peer.Session]*ephOutbox{}, perUser: map[model.UserID]int{}, ephemeral: map[model.UserID]*sharedBucket{},
		seen:      newDedup(opts.dedupWindow, opts.dedupMax),
		live:      liveSet{gone: newGoneIDs(opts.peerWindow, opts.peerPerUser, opts.peerMax)},
		pingSlots: make(chan struct{}, maxPings)}
}

// Handle is the Echo handler; mount it with
// e.GET("/v1/sync", ep.Handle).
func (e *Endpoint) Handle(c echo.Context) error {
	e.ServeHTTP(c.Response(), c.Request())
	return nil
}

// EphemeralEntries returns the size of the ephemeral de-duplication
// table (bounded by WithEphemeralDedup).
func (e *Endpoint) EphemeralEntries() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.seen.len()
}

// Notified returns how many change notifications the endpoint's
// sessions have received (peer.Fanout.Notified): with N changes it is
// the sum over the changed documents of their followers, not N × peers.
func (e *Endpoint) Notified() uint64 { return e.fanout.Notified() }

// WriteTimeouts returns how many sessions ended because a write to
// their device stayed blocked past its connection's write deadline
// (peer.QueueOptions.WithSlowClient): the device stopped reading or
// vanished while the relay had data for it.
func (e *Endpoint) WriteTimeouts() uint64 { return e.timedOut.Load() }

// Peers returns the number of connected peers.
func (e *Endpoint) Peers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// ServeHTTP authenticates the request, upgrades it to a WebSocket and
// serves one automerge-repo peer until it disconnects.
func (e *Endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, err := e.opts.authenticate(r)
	if err != nil || user == "" {
		writeError(w, http.StatusUnauthorized, "relaysync: missing or invalid token", 0)
		return
	}
	e.ServeUser(w, r, user)
}

// ServeUser serves a request whose caller the embedding server already
// authenticated as user: it upgrades to a WebSocket and serves one peer
// until it disconnects (returning once the connection is upgraded, as
// ServeHTTP does). ServeCaller also binds the connection to the
// device and its token's expiry.
func (e *Endpoint) ServeUser(w http.ResponseWriter, r *http.Request, user model.UserID) {
	e.serve(w, r, Caller{User: user})
}

// acceptOptions are the WebSocket options of every connection.
func (e *Endpoint) acceptOptions() *websocket.AcceptOptions {
	mode := websocket.CompressionDisabled
	if e.opts.compression {
		mode = websocket.CompressionNoContextTakeover
		if e.opts.takeover {
			mode = websocket.CompressionContextTakeover
		}
	}
	return &websocket.AcceptOptions{CompressionMode: mode, CompressionThreshold: e.opts.threshold, InsecureSkipVerify: true}
}

// serve upgrades to a WebSocket and starts serving one peer of caller,
// on a goroutine of its own, until it disconnects, its device is revoked
// or its token expires; it returns once the connection is upgraded. The
// handler's return lets net/http drop what it keeps per request (its
// connection state, 4 KiB reader and writer, the request), which an idle
// peer would otherwise hold for its connection's life; the session keeps
// the request context's values but not its cancellation (net/http
// cancels it when the handler returns).
func (e *Endpoint) serve(w http.ResponseWriter, r *http.Request, caller Caller) {
	if caller.User == "" {
		writeError(w, http.StatusUnauthorized, "relaysync: missing or invalid token", 0)
		return
	}
	if !e.admit(w, caller.User) {
		return
	}
	jw := &jsonErrorWriter{slimHijacker: slimHijacker{w}}
	c, err := websocket.Accept(jw, r, e.acceptOptions())
	if err != nil {
		jw.finish()
		e.release(caller.User)
		e.opts.log.Debug("relaysync: accept", "err", err)
		return
	}
	go func() {
		defer e.release(caller.User)
		e.session(context.WithoutCancel(r.Context()), c, caller)
	}()
}

// session serves one peer of caller over the upgraded c until it
// disconnects, its device is revoked or its token expires.
func (e *Endpoint) session(ctx context.Context, c *websocket.Conn, caller Caller) {
	user := caller.User
	defer c.CloseNow()
	conn := peer.NewWSConn(c, e.opts.maxFrame)
	limit := newBucket(e.opts.rate, e.opts.burst, e.opts.now)
	conn.Allow = limit.allow
	hctx, cancel := context.WithTimeout(ctx, e.opts.handshake)
	join, err := peer.ServerHandshake(hctx, conn, e.opts.peerID, wire.PeerMetadata{StorageID: e.opts.peerID, Features: e.features()})
	cancel()
	if err != nil {
		e.opts.log.Debug("relaysync: handshake", "user", user, "err", err)
		c.Close(websocket.StatusPolicyViolation, "handshake failed")
		return
	}
	runCtx, lc, err := e.register(ctx, caller, join.SenderID, c, conn)
	if err != nil {
		e.opts.log.Debug("relaysync: join", "user", user, "err", err)
		sctx, cancel := context.WithTimeout(ctx, e.opts.handshake)
		_ = conn.Send(sctx, wire.ErrorMessage(e.opts.peerID, join.SenderID, err.Error()))
		cancel()
		c.Close(websocket.StatusPolicyViolation, "peer id refused")
		return
	}
	defer e.unregister(lc)
	s := &peer.Session{
		Repo: e.repo, Authz: e.authz, User: user,
		LocalID: e.opts.peerID, RemoteID: join.SenderID, RemoteStorage: peer.RemoteStorage(join),
		Conn: lc, Log: e.opts.log, Now: e.opts.now, Fanout: e.fanout,
		Pace: e.opts.pace, Window: e.opts.window,
		// Only the relay's pushes earn the remote an answer on credit:
		// its answers to the remote's own messages (doc-unavailable
		// for a request, the acknowledgement of a change) earn none,
		// or asking and being answered would never spend the rate.
		OnPush: limit.credit,
	}
	eph := e.ephemeralBudget(user)
	defer e.releaseEphemeral(user)
	s.OnEphemeral = func(m *wire.Message) {
		if !eph.take(float64(len(m.Data))) {
			e.refuseEphemeral(ctx, s, m)
			return
		}
		e.relayEphemeral(s, m)
	}
	act := &activitySub{e: e, ctx: runCtx, caller: caller, lc: lc, ws: conn, peerID: join.SenderID}
	s.OnActivity = act.handle
	s.Owner = func(ctx context.Context, id docs.DocumentID) (model.UserID, error) { return OwnerOf(ctx, e.st, id) }
	s.OnCreate = func(tx store.Txn, id docs.DocumentID) error { return e.recordCreate(tx, user, id) }
	e.mu.Lock()
	e.sessions[s] = &ephOutbox{ctx: runCtx, s: s, log: e.opts.log, maxBytes: int(e.opts.ephBurst)}
	e.mu.Unlock()
	err = s.Run(runCtx)
	act.unsubscribe()
	e.mu.Lock()
	delete(e.sessions, s)
	e.mu.Unlock()
	if _, reason, ok := lc.ended(); ok {
		<-runCtx.Done() // the close handshake has finished
		e.opts.log.Info("relaysync: session closed", "user", user, "device", caller.Device, "reason", reason)
		return
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		e.timedOut.Add(1)
		e.opts.log.Info("relaysync: session closed", "user", user, "device", caller.Device, "reason", "write deadline: the device stopped reading")
		return
	}
	if errors.Is(err, ErrRateLimited) {
		e.opts.log.Info("relaysync: session closed", "user", user, "device", caller.Device, "reason", err)
		c.Close(peer.CloseRateLimited, truncate(err.Error(), 120))
		return
	}
	if refusal := storageRefusal(err); refusal != nil {
		e.opts.log.Warn("relaysync: session closed", "user", user, "device", caller.Device, "reason", err)
		c.Close(websocket.StatusTryAgainLater, refusal.Error())
		return
	}
	if internalFailure(err) {
		e.opts.log.Error("relaysync: session failed", "user", user, "device", caller.Device, "err", err)
		c.Close(websocket.StatusInternalError, ErrInternal.Error())
		return
	}
	if err != nil {
		e.opts.log.Debug("relaysync: session ended", "user", user, "peer", join.SenderID, "err", err)
		c.Close(websocket.StatusPolicyViolation, truncate(err.Error(), 120))
		return
	}
	c.Close(websocket.StatusNormalClosure, "")
}

// relayEphemeral forwards an ephemeral message to every other peer that
// follows its document and may read it, once per (user, sender,
// session, count). Only the document's followers are visited (the
// Fanout index), not every connected peer. It only queues the message
// for each (ephOutbox), so a follower that stopped reading cannot hold
// the sender's session.
//
// The sender id followers see is the session's peer id (the one its
// remote joined with), as for every other message the relay sends: the
// message's own sender id is the remote's claim, and any reader could
// name another peer, of another user, to that peer's followers. A claim
// is kept only when it names a peer of the same user connected now (one
// of the user's tabs or devices forwarding another's message, as
// automerge-repo forwards ephemeral messages to its other peers).
func (e *Endpoint) relayEphemeral(from *peer.Session, m *wire.Message) {
	id, err := m.DocID()
	if err != nil {
		return
	}
	key := ephemeralKey(from.User, m)
	e.mu.Lock()
	if !e.seen.fresh(key, m.Count, e.opts.now()) {
		e.mu.Unlock()
		return
	}
	e.mu.Unlock()
	if m.SenderID != from.RemoteID && !e.livePeer(from.User, m.SenderID) {
		fwd := *m
		fwd.SenderID = from.RemoteID
		m = &fwd
	}
	followers := e.fanout.Followers(id)
	e.mu.Lock()
	for _, s := range followers {
		o := e.sessions[s]
		if s == from || o == nil {
			continue
		}
		if !o.push(m, id) {
			e.opts.log.Debug("relaysync: ephemeral dropped: the follower's queue is full", "peer", s.RemoteID, "doc", m.DocumentID)
		}
	}
	e.mu.Unlock()
}

// ephemeralKey is the de-duplication key of m from a session of user.
// The sender and session ids are the remote's claim, and every follower
// of the document sees them on the messages forwarded to it: keyed by
// them alone, any reader could replay another peer's ids with a larger
// count and the relay would drop that peer's later messages as
// duplicates. With the authenticated user in the key a replay silences
// only its own user's entry; a message one user's tabs or devices
// forward to each other still goes out once. The user is length-prefixed
// so no choice of ids makes two users' keys equal.
func ephemeralKey(user model.UserID, m *wire.Message) string {
	return strconv.Itoa(len(user)) + ":" + string(user) + "\x00" + m.SenderID + "\x00" + m.SessionID
}

// sharedBucket is a user's ephemeral byte budget, shared by the user's
// connections: refs counts them.
type sharedBucket struct {
	*bucket
	refs int
}

// ephemeralBudget returns user's ephemeral byte budget, made when the
// user's first connection needs it; release it with releaseEphemeral.
// One budget per user, not per connection: with up to
// WithMaxSessions's per-user connections each its own, one account
// could forward that many times the budget.
func (e *Endpoint) ephemeralBudget(user model.UserID) *bucket {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.ephemeral[user]
	if b == nil {
		b = &sharedBucket{bucket: newBucket(e.opts.ephRate, e.opts.ephBurst, e.opts.now)}
		e.ephemeral[user] = b
	}
	b.refs++
	return b.bucket
}

// releaseEphemeral gives back a connection's hold on user's budget; the
// budget goes with the user's last connection.
func (e *Endpoint) releaseEphemeral(user model.UserID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := e.ephemeral[user]; b != nil {
		if b.refs--; b.refs <= 0 {
			delete(e.ephemeral, user)
		}
	}
}

// ErrEphemeralRate is the error a remote is sent for an ephemeral
// message past its user's byte budget (WithEphemeralRate): the
// message is not forwarded, the session goes on. It wraps peer.ErrLimit.
var ErrEphemeralRate = fmt.Errorf("relaysync: ephemeral rate: %w", peer.ErrLimit)

// refuseEphemeral tells the sender of m, an ephemeral message past its
// user's byte budget, that it was not forwarded.
func (e *Endpoint) refuseEphemeral(ctx context.Context, from *peer.Session, m *wire.Message) {
	err := fmt.Errorf("%w: ephemeral message of %d bytes not forwarded: more than %.0f bytes/s (burst %.0f)", ErrEphemeralRate, len(m.Data), e.opts.ephRate, e.opts.ephBurst)
	e.opts.log.Debug("relaysync: ephemeral refused", "user", from.User, "doc", m.DocumentID, "err", err)
	msg := wire.ErrorMessage(e.opts.peerID, from.RemoteID, err.Error())
	msg.DocumentID = m.DocumentID
	if serr := from.Send(ctx, msg); serr != nil {
		e.opts.log.Debug("relaysync: refuse ephemeral", "err", serr)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// ErrStorageFull is the close reason of a sync connection whose remote
// sent changes the relay could not store because its disk is full
// (ENOSPC or EDQUOT under a write): the relay closes it with
// websocket.StatusTryAgainLater, having stored and acknowledged none of
// those changes, and logs the cause, which names its files. Before, it
// closed with StatusPolicyViolation and the cause as the reason, and
// the device reconnected at once, over and over.
var ErrStorageFull = errors.New("relaysync: storage full, nothing stored; try again later")

// ErrStorageGone is the close reason (websocket.StatusTryAgainLater) of
// a sync connection whose remote sent changes while the relay's data
// directory was removed or moved away (badgerstore.ErrDirGone): none of
// them was stored or acknowledged, and the cause is logged.
var ErrStorageGone = errors.New("relaysync: storage unavailable, nothing stored; try again later")

// ErrInternal is the close reason (websocket.StatusInternalError) of a
// sync connection that ended on a failure of the relay's own (an I/O
// error of its files or system calls, internalFailure), not of anything
// the remote sent: the cause, which may name the relay's files, is
// logged and never sent. Before, every such cause went to the remote as
// the close reason (cut at 120 bytes) with StatusPolicyViolation.
var ErrInternal = errors.New("relaysync: internal error; try again later")

// internalFailure reports whether err, which ended a session, comes from
// the relay's own I/O — it wraps a file or system-call error, not one of
// the connection's (net.OpError) — rather than from the remote's messages (those errors name only what the
// remote sent, and go back to it as the close reason).
func internalFailure(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) {
		return false // the connection's own: a reset, a closed socket
	}
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) || errors.As(err, &errno)
}

// storageRefusal returns the close reason for a session that ended on a
// write the relay's storage could not take (ErrStorageFull,
// ErrStorageGone), or nil.
func storageRefusal(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ErrStorageFull
	case errors.Is(err, badgerstore.ErrDirGone):
		return ErrStorageGone
	}
	return nil
}

// ErrRateLimited is the error a connection ends with when its remote
// sent messages faster than WithRate allows (beyond answers to the
// relay's pushes); the relay closes it with peer.CloseRateLimited. It
// wraps peer.ErrLimit.
var ErrRateLimited = fmt.Errorf("relaysync: rate limit: %w", peer.ErrLimit)

// owedPerBurst bounds the answers a remote may still send on credit:
// owedPerBurst × burst, beyond which pushes earn no further credit (a
// remote that never answers cannot bank an allowance).
const owedPerBurst = 10

// bucket is a connection's rate limiter on an injected clock: a token
// bucket (rate per second, burst) for the messages the remote sends of
// its own accord, plus one credit for every message the relay pushed
// to it (peer.Session.OnPush: a followed document's changes, sent
// because someone changed it, not because the remote asked), spent
// first, so that answering the relay — the sync protocol answers every
// sync message, and a follower of busy documents is pushed many — never
// counts against the remote's own rate. The relay's answers to the
// remote's own messages earn nothing: otherwise a remote asking for
// unknown documents, each answered doc-unavailable, or sending changes,
// each acknowledged, would never spend a token. Safe for concurrent use
// (allow runs on the reading goroutine, credit on the pushing one).
type bucket struct {
	mu                  sync.Mutex
	rate, burst, tokens float64
	owed, maxOwed       int
	own, answers        int // messages admitted on the rate and on credit
	start, last         time.Time
	now                 func() time.Time
}

func newBucket(rate, burst float64, now func() time.Time) *bucket {
	t := now()
	return &bucket{rate: rate, burst: burst, tokens: burst, maxOwed: int(burst) * owedPerBurst, start: t, last: t, now: now}
}

// allow admits one received message or returns an error wrapping
// ErrRateLimited. The error says how many messages the remote sent of
// its own and as answers since the connection began, so an operator can
// tell a client that does not pace its own messages from one whose
// answers went uncredited.
func (b *bucket) allow() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	if b.owed > 0 {
		b.owed--
		b.answers++
		return nil
	}
	if b.tokens < 1 {
		return fmt.Errorf("%w: more than %.0f messages/s (burst %.0f) beyond answers to the relay's pushes: %d of its own and %d answers in %.0f s",
			ErrRateLimited, b.rate, b.burst, b.own, b.answers, t.Sub(b.start).Seconds())
	}
	b.tokens--
	b.own++
	return nil
}

// take spends n tokens of the bucket's rate (not its credits) and
// reports true, or reports false and spends nothing when fewer are left.
func (b *bucket) take(n float64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// credit records one message pushed to the remote: it may answer it
// without spending a token.
func (b *bucket) credit() {
	b.mu.Lock()
	if b.owed < b.maxOwed {
		b.owed++
	}
	b.mu.Unlock()
}

// features returns what the handshake announces beyond automerge-repo:
// activity publications while an ActivitySource is set.
func (e *Endpoint) features() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.activity == nil {
		return nil
	}
	return []string{wire.FeatureActivityPublish}
}
