package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"golang.org/x/net/netutil"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ErrStarted is returned by Start when the server is already serving.
var ErrStarted = errors.New("relay: already started")

// ErrShutdownTimeout is returned by Wait when requests were still running
// at the end of the shutdown grace period (WithShutdownTimeout), such as
// a long admin ingest: they were cut off, their clients got no answer,
// and what each stores is atomic (an ingest publishes its album whole or
// not at all).
var ErrShutdownTimeout = errors.New("relay: shutdown grace period over")

// ErrShuttingDown is what a client is told (503, Retry-After:
// shutdownRetry) when its request was still running at the end of the
// shutdown grace period: the request's context is cancelled with it as
// the cause and a body still arriving stops being read, and a handler
// that ends with an error then is answered with it instead. A handler
// that finishes its work regardless answers what it did.
var ErrShuttingDown = fmt.Errorf("%w: the relay is shutting down", ErrBusy)

// ShutdownAnswerWait is how long, after the shutdown grace period, the
// requests still running have to answer once their contexts are
// cancelled (ErrShuttingDown); the connections of those still running
// after it are closed without an answer.
const ShutdownAnswerWait = 2 * time.Second

// MaxHeaderBytes bounds the request line and headers of one request
// (http.Server.MaxHeaderBytes; HTTP/2's header list too): a request
// past it is answered 431 by net/http before any handler. The relay's
// own requests need well under 1 KiB; 32 KiB is nginx's default
// ceiling. net/http's default, 1 MiB, let each of the relay's 16,384
// connections hold about 2 MiB of heap while an unfinished header line
// arrived within ReadHeaderTimeout.
const MaxHeaderBytes = 32 << 10

// shutdownRetry is the Retry-After of ErrShuttingDown: about what a
// supervisor takes to start the relay again.
const shutdownRetry = 5 * time.Second

// Server is the relay: an Echo application over a data directory. Create
// it with New, optionally add routes with Mount, then either serve it with
// Start/ListenAndServe or embed Handler in another http.Server. Close
// releases the data directory.
type Server struct {
	opts Options
	log  *slog.Logger
	now  func() time.Time
	st   store.Store
	cat  *catalog.Catalog
	// readBlob reads a blob by its hash: cat.Blob (tests watch it).
	readBlob func(ctx context.Context, h [32]byte) ([]byte, error)
	catPub   ed25519.PublicKey
	signer   ed25519.PrivateKey // catalog key: signs device certificates
	closer   func() error
	acc      *accounts
	met      *metrics
	e        *echo.Echo
	v1       *DeviceRoutes // the /v1 routes behind Auth (routes.go)
	mans     *manifestCache
	meta     *metaCache
	// blobMem bounds the blob bodies being served (WithBlobMemory).
	blobMem *blobMemory
	logged  atomic.Uint64 // requests seen by the access log sampler

	inFlight        atomic.Int64        // requests counted by WithMaxInFlight (inflight.go)
	inFlightRefused atomic.Uint64       // requests refused by WithMaxInFlight
	longBudget      connBudget          // long-lived connections (longlived.go)
	longLived       map[string]bool     // route paths WithMaxInFlight does not count (LongLived)
	sync            *relaysync.Endpoint // nil when the sync endpoint failed to mount
	docs            *repo.Repo          // the sync endpoint's repository, nil with it

	onShutdown []func()                             // run when a graceful shutdown begins (OnShutdown)
	onRevoked  []func(model.UserID, model.DeviceID) // run by DeviceRevoked (OnDeviceRevoked)
	// accessW records audio served to devices; nil records nothing
	// (SetAccessWriter, access.go).
	accessW access.Writer

	mu      sync.Mutex
	hs      *http.Server
	served  chan error
	closeMu sync.Once
}

// New opens the data directory of opts (creating it when missing) and
// returns a relay with every route of docs/ARCHITECTURE.md §4 registered.
// An admin token CheckAdminToken refuses is an error wrapping
// ErrWeakAdminToken, before anything is opened.
func New(ctx context.Context, opts Options) (*Server, error) {
	if err := CheckAdminToken(opts.adminToken); err != nil {
		return nil, fmt.Errorf("check admin token: %w", err)
	}
	dd, err := catalog.OpenDataDirWith(ctx, opts.dataDir, catalog.DefaultDataDirOptions().
		WithInit(catalog.InitIfEmpty).WithLogger(opts.logger).WithBlobs(opts.blobs, opts.blobsID))
	if err != nil {
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	if dd.BlobStore != "" && opts.blobs == nil {
		dd.Close()
		return nil, fmt.Errorf("open data dir: %w: %s keeps its blobs in %s (Options.WithBlobs)", catalog.ErrBlobsNotOpened, opts.dataDir, dd.BlobStore)
	}
	return newServer(dd.Store, dd.Catalog, dd.Signer, dd.Close, opts), nil
}

// NewWithDataDir returns a relay over an already open data directory, for
// programs that also ingest into it (Badger allows one opener per
// directory). The Server does not own dd: Close leaves it open, and the
// caller closes dd after the server has stopped. The data directory in
// opts is ignored. An admin token CheckAdminToken refuses is logged as an
// error and guards nothing: every admin request is refused (AdminGate),
// as with no token; check it with CheckAdminToken first to report it.
func NewWithDataDir(dd *catalog.DataDir, opts Options) *Server {
	opts.dataDir = dd.Dir
	return newServer(dd.Store, dd.Catalog, dd.Signer, func() error { return nil }, opts)
}

// newServer builds a relay over an open store and catalog whose key is
// signer; closer releases them on Close.
func newServer(st store.Store, cat *catalog.Catalog, signer ed25519.PrivateKey, closer func() error, opts Options) *Server {
	s := &Server{
		opts:     opts,
		log:      opts.logger,
		now:      opts.now,
		st:       st,
		cat:      cat,
		readBlob: cat.Blob,
		catPub:   signer.Public().(ed25519.PublicKey),
		signer:   signer,
		closer:   closer,
		acc:      newAccounts(st, opts),
		met:      newMetrics(),
		mans:     newManifestCache(4096),
		blobMem:  newBlobMemory(opts),
		meta:     newMetaCache(metaCacheBytes, cat.Generation),

		longLived: map[string]bool{},
	}
	if err := CheckAdminToken(opts.adminToken); err != nil {
		s.log.Error("relay: admin token refused, every admin request will be", "err", err)
	}
	s.longBudget.max = longLivedBudget(opts.maxConns)
	s.met.reg.MustRegister(s.acc.gate.collectors()...)
	s.met.reg.MustRegister(s.inFlightCollectors()...)
	s.met.reg.MustRegister(s.longLivedCollectors()...)
	s.met.reg.MustRegister(s.blobMemoryCollectors()...)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Logger.SetOutput(io.Discard)
	e.HTTPErrorHandler = s.errorHandler
	e.Pre(canonicalPath)
	e.Use(s.observe, s.limitInFlight, s.limitLongLived, middleware.RecoverWithConfig(middleware.RecoverConfig{DisablePrintStack: true}), s.checkRequest, s.bodyDeadline)
	s.e = e

	getHead := []string{http.MethodGet, http.MethodHead}
	// HEAD too: uptime monitors and load balancers probe with it
	// (RFC 9110 §9.1: a general-purpose server supports GET and HEAD).
	e.Match(getHead, "/healthz", s.healthz)
	e.GET("/metrics", s.metricsHandler(), s.adminOnly)
	e.POST("/v1/accounts", s.createAccount)
	e.POST("/v1/devices", s.registerDevice)

	v1 := &DeviceRoutes{s: s}
	s.v1 = v1
	v1.GET("/me", s.me)
	v1.GET("/devices/cert", s.deviceCert)
	v1.POST("/devices/lan-keys", s.lanKeys)
	v1.GET("/catalog/key", s.catalogKey)
	v1.GET("/tracks/:id", s.track)
	v1.POST("/tracks/batch", s.tracks)
	v1.GET("/albums/:id", s.album)
	v1.GET("/artists/:id", s.artist)
	v1.Match(getHead, "/audio/:track/:tier/manifest", s.manifest)
	v1.Match(getHead, "/audio/:track/:tier/header", s.header)
	v1.Match(getHead, "/audio/:track/:tier/chunks/:i", s.chunk)
	v1.Match(getHead, "/blobs/:hash", s.blob)
	v1.POST("/keys/stream", s.streamKey)
	v1.GET("/releases", s.releases) // releases.go
	if err := s.mountSync(); err != nil {
		s.log.Error("relay: sync endpoint disabled", "err", err)
	}
	return s
}

// Mount lets another package add routes under /v1 that require a device
// token: every route fn adds through v1 runs after Auth and can call
// DeviceFrom. Call Mount before serving.
func (s *Server) Mount(fn func(v1 *DeviceRoutes)) { fn(s.v1) }

// OnShutdown registers fn to run (in its own goroutine; Wait waits for
// it) when a graceful shutdown of a started server begins, for handlers
// that hold requests open (event streams) and must end them so shutdown
// does not wait for its timeout; Close runs it again, synchronously,
// before it releases the data directory (so fn may also flush what it
// buffers). fn must be safe to call twice. Call OnShutdown before Start.
func (s *Server) OnShutdown(fn func()) { s.onShutdown = append(s.onShutdown, fn) }

// OnDeviceRevoked registers fn to run, in DeviceRevoked's goroutine, each
// time a device is deregistered, so a service ends what the device holds
// open besides its sync connections (server/social: its activity
// streams). fn must not block. Call OnDeviceRevoked before Start.
func (s *Server) OnDeviceRevoked(fn func(user model.UserID, device model.DeviceID)) {
	s.onRevoked = append(s.onRevoked, fn)
}

// Echo returns the underlying Echo instance, for routes outside /v1 (use
// Auth or AdminOnly as route middleware). Mutate it only before serving.
func (s *Server) Echo() *echo.Echo { return s.e }

// AdminOnly is middleware that admits only requests bearing the admin
// token (Authorization: Bearer); without a configured admin token it
// refuses every request with 401. It is AdminGate of the relay's admin
// token: wrong tokens are counted against the client address.
func (s *Server) AdminOnly() echo.MiddlewareFunc { return s.adminOnly }

// Catalog returns the catalog the relay serves, owned by the Server (valid
// until Close).
func (s *Server) Catalog() *catalog.Catalog { return s.cat }

// Now returns the time of the relay's clock (Options.WithClock), for the
// services mounted on it that must agree with it: a release embargo ends
// for them at the instant it ends for stream keys.
func (s *Server) Now() time.Time { return s.now() }

// Logger returns the server's logger (Options.WithLogger), for the
// services mounted on it.
func (s *Server) Logger() *slog.Logger { return s.log }

// Handler returns the relay as an http.Handler, for embedding in another
// server or serving in-process.
func (s *Server) Handler() http.Handler { return s.e }

// Start binds the listen address and serves in the background until ctx is
// cancelled, then shuts down gracefully (in-flight requests get the
// shutdown timeout to finish). It returns the bound address, useful with
// port 0. Wait reports how serving ended.
//
// Without TLS the listener speaks HTTP/1.1 and cleartext HTTP/2 with prior
// knowledge (h2c): a client may multiplex all its requests on one
// connection, while WebSocket upgrades (/v1/sync) stay on HTTP/1.1. With
// WithTLS it speaks HTTPS, HTTP/2 or HTTP/1.1 as ALPN negotiates.
func (s *Server) Start(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return "", ErrStarted
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	protos.SetUnencryptedHTTP2(true)
	hs := &http.Server{
		Handler:           s.e,
		Protocols:         &protos,
		ReadHeaderTimeout: s.opts.headerWait,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       s.opts.idleTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if s.opts.TLS() {
		cert, err := tls.LoadX509KeyPair(s.opts.tlsCert, s.opts.tlsKey)
		if err != nil {
			return "", fmt.Errorf("load tls key pair: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := listen(ctx, s.opts, s.log)
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	// Sync sessions queue their WebSocket writes (peer.QueuedConn).
	ln = peer.QueueListener(netutil.LimitListener(ln, s.opts.maxConns), peer.DefaultQueueOptions().WithSlowClient(s.opts.sendGrace, s.opts.sendRate))
	hs.ConnContext = peer.ConnContext
	// Every request's context derives from base: cancelling it with
	// ErrShuttingDown cuts the requests still running at the end of the
	// grace period (shutdown).
	base, cut := context.WithCancelCause(context.Background())
	hs.BaseContext = func(net.Listener) context.Context { return base }
	s.hs, s.served = hs, make(chan error, 1)
	s.log.Info("relay listening", "addr", addr, "tls", s.opts.TLS(), "data", s.opts.dataDir)
	serveErr := make(chan error, 1)
	go func() {
		if s.opts.TLS() {
			serveErr <- hs.ServeTLS(ln, "", "")
			return
		}
		serveErr <- hs.Serve(ln)
	}()
	go func() {
		var err error
		select {
		case err = <-serveErr:
		case <-ctx.Done():
			err = s.shutdown(context.WithoutCancel(ctx), hs, cut)
			if serr := <-serveErr; !errors.Is(serr, http.ErrServerClosed) && err == nil {
				err = serr
			}
			s.log.Info("relay stopped", "addr", addr, "err", err)
		}
		cut(nil)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.served <- err
	}()
	return addr, nil
}

// shutdown stops hs gracefully: it runs the OnShutdown hooks and lets
// the requests in flight finish within the grace period. Those still
// running then are cut (cut(ErrShuttingDown): their contexts cancelled,
// bodies still arriving no longer read) and have ShutdownAnswerWait to
// answer, a 503 for those that end with an error (observe), before the
// connections left are closed. It returns after the hooks have returned,
// ErrShutdownTimeout when the grace period ran out.
func (s *Server) shutdown(ctx context.Context, hs *http.Server, cut context.CancelCauseFunc) error {
	// The hooks run here, not by hs.RegisterOnShutdown: hs.Shutdown is
	// called a second time below, which would run them again.
	var hooks sync.WaitGroup
	for _, fn := range s.onShutdown {
		hooks.Go(fn)
	}
	defer hooks.Wait()
	sctx, cancel := context.WithTimeout(ctx, s.opts.shutdownWait)
	err := hs.Shutdown(sctx)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	running := requests(s.InFlight())
	cut(ErrShuttingDown)
	actx, cancel := context.WithTimeout(ctx, ShutdownAnswerWait)
	defer cancel()
	if err := hs.Shutdown(actx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("%w: %s still running after %v, cut off; %s not answered after %v more", ErrShutdownTimeout, running, s.opts.shutdownWait, requests(s.InFlight()), ShutdownAnswerWait)
	}
	return fmt.Errorf("%w: %s still running after %v, cut off", ErrShutdownTimeout, running, s.opts.shutdownWait)
}

// Wait blocks until a started server has shut down, and after a graceful
// shutdown until every OnShutdown function returned, and returns the serve
// or shutdown error (nil after a clean graceful shutdown). It returns nil
// at once when the server was never started.
func (s *Server) Wait() error {
	s.mu.Lock()
	ch := s.served
	s.mu.Unlock()
	if ch == nil {
		return nil
	}
	err := <-ch
	ch <- err
	return err
}

// ListenAndServe is Start followed by Wait: it serves until ctx is
// cancelled, shuts down gracefully and returns.
func (s *Server) ListenAndServe(ctx context.Context) error {
	if _, err := s.Start(ctx); err != nil {
		return err
	}
	return s.Wait()
}

// Close releases the data directory. Stop serving first (cancel the
// context given to Start, then Wait). It is safe to call more than once.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		for _, fn := range s.onShutdown {
			fn()
		}
		s.meta.close()
		s.acc.cache.close()
		err = s.closer()
	})
	return err
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// requests names n requests in flight ("1 request", "3 requests"), or
// "requests" when the in-flight count is off (WithMaxInFlight(0)).
func requests(n int) string {
	switch {
	case n <= 0:
		return "requests"
	case n == 1:
		return "1 request"
	}
	return fmt.Sprintf("%d requests", n)
}
