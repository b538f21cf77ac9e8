package testbed

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

// Password is the password Device and Register use for every account.
const Password = "correct horse battery"

// ErrNotDemoTrack is returned by Relay.Encoded for a track or tier the
// demo album does not have.
var ErrNotDemoTrack = errors.New("testbed: not a demo album track or tier")

// Options configure a Relay. The zero value is not useful; start from
// DefaultOptions.
type Options struct {
	demoAlbum bool
	dataDir   string
	logger    *slog.Logger
	relayOpts []func(relay.Options) relay.Options
	licenses  bool
	licOpts   []func(license.Options) license.Options
	mounts    []func(*catalog.DataDir, *relay.Server)
	accessLog bool
	counting  bool
}

// DefaultOptions returns the defaults: the demo album ingested, a fresh
// temporary data directory, logs discarded, the relay listening on
// 127.0.0.1:0 with relay.FastArgonParams and otherwise
// relay.DefaultOptions.
func DefaultOptions() Options {
	return Options{demoAlbum: true, logger: slog.New(slog.DiscardHandler)}
}

// WithDemoAlbum sets whether the demo album is ingested into the data
// directory before the relay opens it (default true). Sync-only tests turn
// it off.
func (o Options) WithDemoAlbum(on bool) Options { o.demoAlbum = on; return o }

// WithDataDir makes the relay use dir, which the caller may have filled
// (for instance with a synthetic catalog) and keeps owning (default: a
// fresh temporary directory removed when the relay is closed).
func (o Options) WithDataDir(dir string) Options { o.dataDir = dir; return o }

// WithLogger sets the relay's logger (default: logs discarded; nil means
// the same).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// WithRelayOptions adds fn, applied to the relay options after the
// testbed's own (listen address, Argon2 parameters, logger), so it may
// override them; several calls apply in order (default none).
func (o Options) WithRelayOptions(fn func(relay.Options) relay.Options) Options {
	o.relayOpts = append(o.relayOpts[:len(o.relayOpts):len(o.relayOpts)], fn)
	return o
}

// WithLicenses sets whether the license server (server/license) is
// mounted on the relay over the same data directory, as `segue relay`
// does (default false).
func (o Options) WithLicenses(on bool) Options { o.licenses = on; return o }

// WithLicenseOptions adds fn, applied to the license server's options
// after the testbed's own (the logger); several calls apply in order
// (default none). It matters only WithLicenses(true).
func (o Options) WithLicenseOptions(fn func(license.Options) license.Options) Options {
	o.licOpts = append(o.licOpts[:len(o.licOpts):len(o.licOpts)], fn)
	return o
}

// WithCounting sets whether play counting (server/counting: POST
// /v1/plays into an events.StoreLog on the relay's store, no audit chain)
// is mounted (default false); PlayLog reads its log.
func (o Options) WithCounting(on bool) Options { o.counting = on; return o }

// WithAccessLog sets whether the relay (and the license server) record
// access records (server/access) in the relay's store (default false);
// Relay.AccessLog returns the writer, closed when the relay stops.
func (o Options) WithAccessLog(on bool) Options { o.accessLog = on; return o }

// WithMount adds fn, called with the data directory and the relay
// server before it serves (on every start, Restart included), to mount
// more routes (default none); several calls apply in order.
func (o Options) WithMount(fn func(*catalog.DataDir, *relay.Server)) Options {
	o.mounts = append(o.mounts[:len(o.mounts):len(o.mounts)], fn)
	return o
}

// Relay is a running relay on 127.0.0.1. Its exported fields are set by
// Start and never change afterwards (Restart keeps the URL).
type Relay struct {
	// URL is the relay's origin, http://127.0.0.1:<port> (https:// when
	// the relay options set TLS).
	URL string
	// DataDir is the relay data directory (Badger, keys).
	DataDir string
	// CatalogKey is the catalog's Ed25519 public key (manifests are
	// signed with it).
	CatalogKey ed25519.PublicKey
	// Album is the demo album's id; empty without the demo album.
	Album model.AlbumID
	// Tracks are the demo album's track ids in album order; empty without
	// the demo album.
	Tracks []model.TrackID

	opts    Options
	ownDir  bool
	addr    string
	tls     bool
	meta    map[model.TrackID]demoalbum.TrackMeta
	mu      sync.Mutex
	srv     *relay.Server
	dd      *catalog.DataDir // the running relay's, closed by Stop
	cancel  context.CancelFunc
	stopped bool
	access  access.Writer // nil without WithAccessLog
	plays   events.Log    // nil without WithCounting
}

// NewRelay starts a relay with opts (see Start) in a temporary directory
// of t unless opts names one, and stops and closes it at the end of the
// test, reporting shutdown errors with t.Errorf. It fails the test when
// the relay cannot start.
func NewRelay(t testing.TB, opts Options) *Relay {
	t.Helper()
	if opts.dataDir == "" {
		opts.dataDir = t.TempDir()
	}
	r, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("testbed relay: %v", err)
		}
	})
	return r
}

// Start ingests the demo album (unless disabled) into the data directory
// and starts a relay on it listening on 127.0.0.1. The relay serves until
// Stop or Close; the caller must Close it. ctx bounds only the start-up
// (opening the data directory and the ingest).
func Start(ctx context.Context, opts Options) (*Relay, error) {
	r := &Relay{opts: opts, DataDir: opts.dataDir}
	if r.DataDir == "" {
		dir, err := os.MkdirTemp("", "segue-testbed-")
		if err != nil {
			return nil, fmt.Errorf("testbed: make data dir: %w", err)
		}
		r.DataDir, r.ownDir = dir, true
	}
	dd, err := catalog.OpenDataDir(ctx, r.DataDir)
	if err != nil {
		r.removeDir()
		return nil, fmt.Errorf("testbed: open data dir: %w", err)
	}
	if err := r.prepare(ctx, dd); err != nil {
		dd.Close()
		r.removeDir()
		return nil, err
	}
	if err := r.start(dd, "127.0.0.1:0"); err != nil {
		r.removeDir()
		return nil, err
	}
	r.URL = "http://" + r.addr
	if r.tls {
		r.URL = "https://" + r.addr
	}
	return r, nil
}

// prepare reads the catalog key and ingests the demo album when asked.
func (r *Relay) prepare(ctx context.Context, dd *catalog.DataDir) error {
	r.CatalogKey = dd.Signer.Public().(ed25519.PublicKey)
	if !r.opts.demoAlbum {
		return nil
	}
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		return fmt.Errorf("testbed: load demo album: %w", err)
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
	if err != nil {
		return fmt.Errorf("testbed: ingest demo album: %w", err)
	}
	meta, err := demoalbum.Album()
	if err != nil {
		return fmt.Errorf("testbed: demo album: %w", err)
	}
	if len(res.Tracks) != len(meta.Tracks) {
		return fmt.Errorf("testbed: ingested %d tracks, the demo album has %d", len(res.Tracks), len(meta.Tracks))
	}
	r.meta = make(map[model.TrackID]demoalbum.TrackMeta, len(meta.Tracks))
	for i, tm := range meta.Tracks {
		id := res.Tracks[i].ID
		r.Tracks = append(r.Tracks, id)
		r.meta[id] = tm
	}
	r.Album = res.Tracks[0].Track.AlbumID
	return nil
}

// start runs the relay over dd, binding addr; it owns dd from then on
// (closed on failure or by Stop).
func (r *Relay) start(dd *catalog.DataDir, addr string) error {
	o := relay.DefaultOptions(r.DataDir).WithListen(addr).
		WithArgonParams(relay.FastArgonParams).WithLogger(r.opts.logger)
	for _, fn := range r.opts.relayOpts {
		o = fn(o)
	}
	r.tls = o.TLS()
	srv := relay.NewWithDataDir(dd, o)
	var aw access.Writer
	if r.opts.accessLog {
		aw = access.NewStoreWriter(dd.Store, access.DefaultOptions().WithFlushInterval(20*time.Millisecond).WithLogger(r.opts.logger))
		srv.SetAccessWriter(aw)
	}
	if r.opts.licenses {
		lo := license.DefaultOptions().WithLogger(r.opts.logger).WithAccessWriter(aw)
		for _, fn := range r.opts.licOpts {
			lo = fn(lo)
		}
		license.NewForDataDir(dd, lo).Mount(srv)
	}
	var plays events.Log
	if r.opts.counting {
		plays = events.NewStoreLog(dd.Store)
		counting.New(dd.Store, plays, dd.Catalog, nil, counting.DefaultOptions().WithLogger(r.opts.logger)).Mount(srv)
	}
	for _, fn := range r.opts.mounts {
		fn(dd, srv)
	}
	sctx, cancel := context.WithCancel(context.Background())
	bound, err := srv.Start(sctx)
	if err != nil {
		cancel()
		srv.Close()
		if aw != nil {
			aw.Close()
		}
		dd.Close()
		return fmt.Errorf("testbed: start relay: %w", err)
	}
	r.mu.Lock()
	r.srv, r.dd, r.cancel, r.addr, r.stopped, r.access, r.plays = srv, dd, cancel, bound, false, aw, plays
	r.mu.Unlock()
	return nil
}

// Server returns the running relay server (for Handler, Catalog, Mount…).
// After Restart it returns the new server.
func (r *Relay) Server() *relay.Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv
}

// Stop shuts the relay down gracefully and releases its data directory;
// the directory is kept for Restart. Stop is idempotent and returns the
// serve or close error of the first call.
func (r *Relay) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || r.srv == nil {
		return nil
	}
	r.stopped = true
	r.cancel()
	werr := r.srv.Wait()
	var aerr error
	if r.access != nil {
		aerr = r.access.Close()
	}
	return errors.Join(werr, aerr, r.srv.Close(), r.dd.Close())
}

// PlayLog returns the running relay's play event log (nil without
// WithCounting): the plays devices uploaded, each once.
func (r *Relay) PlayLog() events.Log {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.plays
}

// AccessLog returns the running relay's access-record writer (nil
// without WithAccessLog); Flush it before reading the records.
func (r *Relay) AccessLog() access.Writer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.access
}

// Restart starts a stopped relay again on the same data directory and the
// same address, so URL stays valid. It fails when the relay is running or
// the address has been taken meanwhile.
func (r *Relay) Restart(ctx context.Context) error {
	r.mu.Lock()
	running := !r.stopped
	r.mu.Unlock()
	if running {
		return errors.New("testbed: restart of a running relay")
	}
	dd, err := catalog.OpenDataDir(ctx, r.DataDir)
	if err != nil {
		return fmt.Errorf("testbed: open data dir: %w", err)
	}
	return r.start(dd, r.addr)
}

// Close stops the relay (see Stop) and removes its data directory when
// Start created it.
func (r *Relay) Close() error {
	err := r.Stop()
	r.removeDir()
	return err
}

func (r *Relay) removeDir() {
	if r.ownDir {
		os.RemoveAll(r.DataDir)
	}
}

// Encoded returns the demo album's Ogg Vorbis file of track at tier: the
// bytes a decrypted stream of that track must equal. The caller owns the
// returned slice.
func (r *Relay) Encoded(track model.TrackID, tier model.Tier) ([]byte, error) {
	tm, ok := r.meta[track]
	if !ok || tm.Tiers[tier] == "" {
		return nil, fmt.Errorf("%w: %s/%s", ErrNotDemoTrack, track, tier)
	}
	b, err := demoalbum.FS.ReadFile(path.Join("data", tm.Tiers[tier]))
	if err != nil {
		return nil, fmt.Errorf("testbed: read %s/%s: %w", track, tier, err)
	}
	return b, nil
}

// Engine opens a core.Engine in a temporary directory of t with opts and
// logs discarded, and closes it at the end of the test. The caller sets
// the origins in opts.
func Engine(t testing.TB, opts core.Options) *core.Engine {
	t.Helper()
	e, err := core.Open(context.Background(), t.TempDir(), opts.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// Register signs user up with Password (an existing account is fine) and
// registers e as the device named device, failing the test otherwise.
func Register(t testing.TB, e *core.Engine, user model.UserID, device string) {
	t.Helper()
	ctx := context.Background()
	if err := e.SignUp(ctx, string(user), Password); err != nil && !IsConflict(err) {
		t.Fatal(err)
	}
	if err := e.Register(ctx, string(user), Password, device); err != nil {
		t.Fatal(err)
	}
}

// Deregister removes device id at the relay at origin (DELETE
// /v1/devices/{id}) with the device token token (the device's own, or
// another device's of the same account), failing t unless the relay
// answers 204 No Content.
func Deregister(t testing.TB, origin string, id model.DeviceID, token string) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodDelete, origin+"/v1/devices/"+string(id), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deregister %s: %s", id, resp.Status)
	}
}

// Device opens an engine against r (core.DefaultOptions with r.URL as the
// only origin) and registers it as a device of user (see Engine and
// Register).
func Device(t testing.TB, r *Relay, user model.UserID) *core.Engine {
	t.Helper()
	e := Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	Register(t, e, user, "test device")
	return e
}

// IsConflict reports whether err is SignUp's refusal of an account that
// exists already (core.ErrAccountExists).
func IsConflict(err error) bool {
	return errors.Is(err, core.ErrAccountExists)
}
