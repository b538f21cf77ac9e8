package core

import (
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// Clock is the engine's only source of time (key expiry, registration
// proofs). Tests inject a fake.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// SystemClock is the real wall clock, the default Clock.
var SystemClock Clock = systemClock{}

// TimerClock is a Clock that also runs timers. An engine whose clock is
// one schedules its periodic work by it (the LAN key refresh of
// WithLANKeyRefresh); with any other Clock it uses the wall clock's
// timers. Tests inject a fake to fire the schedule at will.
type TimerClock interface {
	Clock
	// After returns a channel that receives the time once d has passed
	// on this clock.
	After(d time.Duration) <-chan time.Time
}

// Options configure Open. The zero value is not useful: start from
// DefaultOptions and chain WithX methods; each returns a modified copy.
type Options struct {
	origins    []string
	catalogKey ed25519.PublicKey
	cacheBytes int64
	keyTTL     time.Duration
	keyStore   crypto.KeyStore
	httpClient *http.Client // the app's (WithHTTPClient); nil: each engine makes its own
	http2      bool
	dial       DialFunc
	logger     *slog.Logger
	clock      Clock
	store      store.Store
	observer   func(fetch.Event)

	privateSession bool
	lanKeyRefresh  time.Duration
}

// DefaultOptions returns: no origins (set at least one with WithOrigins),
// the catalog key trusted on first use, a 2 GiB blob cache, content keys
// kept in memory for 10 minutes, a file key store in <dir>/keys, a Badger
// store in <dir>/db, the engine's own HTTP client (30 s timeout, HTTP/2
// on: see WithHTTP2), slog.Default(), the system clock and the LAN keys
// of a running LAN node refreshed from the relay every
// DefaultLANKeyRefresh (WithLANKeyRefresh). Each engine
// makes its own client at Open, so engines opened from one Options value
// share no connection, and Close can close its client's connections.
func DefaultOptions() Options {
	return Options{
		cacheBytes: 2 << 30,
		keyTTL:     10 * time.Minute,
		http2:      true,
		logger:     slog.Default(),
		clock:      SystemClock,

		lanKeyRefresh: DefaultLANKeyRefresh,
	}
}

// DefaultLANKeyRefresh is how often a running LAN node asks the relay
// for its LAN keys by default (WithLANKeyRefresh).
const DefaultLANKeyRefresh = time.Hour

// WithLANKeyRefresh sets how often, by the engine's clock (TimerClock),
// a running LAN node (Docs.StartLAN) asks the relay for its LAN keys and
// takes them (Docs.RefreshLANKeys): keys rotate on the relay
// (relay.WithLANKeyEpoch), and a node that kept its keys would meet its
// peers with newer ones only through the previous epoch's key. d ≤ 0
// turns the schedule off (changes of the playlists still refresh them).
// Default DefaultLANKeyRefresh.
func (o Options) WithLANKeyRefresh(d time.Duration) Options { o.lanKeyRefresh = d; return o }

// WithPrivateSession starts the engine in a private session (default
// off): it publishes no friend activity, whatever the stored switch says
// (see Engine.SetPrivateSession, which overrides it).
func (o Options) WithPrivateSession(on bool) Options { o.privateSession = on; return o }

// WithOrigins sets the relay base URLs ("http://host:port"), tried in
// order for every request: the first is the primary, the others mirrors
// serving the same catalog. The slice is copied.
func (o Options) WithOrigins(urls ...string) Options {
	o.origins = append([]string(nil), urls...)
	return o
}

// WithCatalogKey pins the catalog's Ed25519 public key that signs every
// manifest. Without it the engine trusts on first use: it pins the key the
// relay returns at registration (or, failing that, the first origin's
// GET /v1/catalog/key) in the store, and from then on rejects manifests
// signed by any other key. An app that ships the key should set it.
func (o Options) WithCatalogKey(k ed25519.PublicKey) Options {
	o.catalogKey = append(ed25519.PublicKey(nil), k...)
	return o
}

// WithCacheBytes bounds the encrypted-blob cache (default 2 GiB). Least
// recently used blobs are evicted past it, at Open too when the cache
// holds more (a bound lowered since); n ≤ 0 caches nothing.
func (o Options) WithCacheBytes(n int64) Options { o.cacheBytes = n; return o }

// WithKeyTTL sets how long a streaming content key stays in memory after
// it was obtained (default 10 minutes). Keys are never written to disk.
func (o Options) WithKeyTTL(d time.Duration) Options { o.keyTTL = d; return o }

// WithKeyStore sets where the device identity and relay token are kept
// (default: crypto.FileKeyStore in <dir>/keys, without passphrase). Apps
// should pass one backed by the platform's Keychain/Keystore.
func (o Options) WithKeyStore(ks crypto.KeyStore) Options { o.keyStore = ks; return o }

// WithHTTPClient sets the HTTP client for every relay request, replacing
// the engine's own (see WithHTTP2). nil keeps the current one. With a
// client of the app's, WithHTTP2 and WithDialContext have no effect; its
// Transport must leave WebSocket upgrades (sync) on HTTP/1.1. The client
// stays the app's: Engine.Close does not close its connections, and
// every engine opened with it shares them.
func (o Options) WithHTTPClient(c *http.Client) Options {
	if c != nil {
		o.httpClient = c
	}
	return o
}

// WithHTTP2 sets whether the engine's own HTTP client insists on HTTP/2
// (default true). On, relay requests go HTTP/2-only — cleartext with prior
// knowledge (h2c) to http:// origins, h2 by ALPN to https:// ones — with
// one connection dialed per origin at a time, so the requests of a play
// (manifest, key, header, first chunk) multiplex on one connection instead
// of needing a handshake each, even from an engine with no connection
// open. WebSocket upgrades and proxied requests use HTTP/1.1 (or ALPN). An
// origin whose first HTTP/2-only attempt fails (an HTTP/1.1-only server or
// proxy) is spoken to over HTTP/1.1 (https://: whatever ALPN picks) from
// then on, re-probed hourly, with the failed request resent at once; a
// dial failure or a cancelled request does not count. Off, http://
// origins get HTTP/1.1 only and https:// ones negotiate by ALPN.
// Either way idle connections are kept 5 minutes and an HTTP/2
// connection silent for 30 s is checked with a PING (closed when
// unanswered within 10 s). The client times every request out after 30 s.
func (o Options) WithHTTP2(on bool) Options { o.http2 = on; return o }

// WithDialContext sets how the engine's own HTTP client opens connections
// (default a net.Dialer with a 10 s timeout and TCP keep-alive), for
// custom network stacks, VPN-bound sockets and link emulation in tests.
// nil restores the default. It has no effect after WithHTTPClient.
func (o Options) WithDialContext(dial DialFunc) Options { o.dial = dial; return o }

// WithLogger sets the logger (default slog.Default()). nil keeps the
// default. Tokens, passwords and keys are never logged.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithClock sets the clock (default SystemClock). nil keeps the default.
func (o Options) WithClock(c Clock) Options {
	if c != nil {
		o.clock = c
	}
	return o
}

// WithObserver sets a callback run after every cache hit and every origin
// attempt of the fetcher (default none), for metrics and tests: a failed
// attempt carries a *fetch.OriginError naming the origin. It must not
// block.
func (o Options) WithObserver(fn func(fetch.Event)) Options { o.observer = fn; return o }

// WithStore makes the engine use s instead of opening Badger in
// <dir>/db (for tests and the wasm build). The engine does not close a
// store given here.
func (o Options) WithStore(s store.Store) Options { o.store = s; return o }

// after returns a channel that receives the time once d has passed on
// the engine's clock (TimerClock), else on the wall clock.
func (e *Engine) after(d time.Duration) <-chan time.Time {
	if c, ok := e.opts.clock.(TimerClock); ok {
		return c.After(d)
	}
	return time.After(d)
}
