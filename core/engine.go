package core

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/device"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/ttlmap"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// Sentinel errors, checked with errors.Is. Fetch failures use the
// sentinels of package fetch (fetch.ErrIntegrity, fetch.ErrOffline,
// fetch.ErrNotFound), re-exported here for convenience.
var (
	// ErrNoOrigins is returned by Open without WithOrigins.
	ErrNoOrigins = errors.New("core: no origins configured")
	// ErrOptions is returned by Open for Options not made by
	// DefaultOptions: the zero value has no blob cache, keeps no content
	// key and turns HTTP/2 off, which would pass silently.
	ErrOptions = errors.New("core: options not initialised: start from DefaultOptions")
	// ErrNotRegistered is returned by calls that need a device token
	// before Register succeeded.
	ErrNotRegistered = errors.New("core: device not registered")
	// ErrUnauthorized is returned when the relay rejects the credentials
	// or the device token (e.g. expired: register again).
	ErrUnauthorized = errors.New("core: unauthorized")
	// ErrAccountExists is returned by SignUp for a name the relay has an
	// account under already (409): sign in (Register) instead, or pick
	// another name.
	ErrAccountExists = errors.New("core: account name taken")
	// ErrSignupClosed is returned by SignUp when the relay takes no
	// signups (403: its admin creates the accounts).
	ErrSignupClosed = errors.New("core: the relay's signup is closed")
	// ErrBadResponse is returned for a relay answer the engine cannot use.
	ErrBadResponse = errors.New("core: bad relay response")
	// ErrCatalogKeyMismatch is returned when the relay presents a catalog
	// key different from the one pinned on this device.
	ErrCatalogKeyMismatch = device.ErrCatalogKeyMismatch
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("core: engine closed")
	// ErrIdentityDamaged is returned by Open when the stored device
	// identity does not parse (a damaged or truncated key file). It is
	// never replaced on its own: restore it from a backup, or delete it
	// (keys/device-identity.key in the data directory) to open as a new
	// device that registers again, whose earlier licenses are void.
	ErrIdentityDamaged = errors.New("core: device identity is damaged: restore it from a backup, or delete it to register this data directory as a new device (its offline licenses are then void)")
	// ErrLocked is returned by Open when the data directory's store is
	// open already, by another engine of this process or by another
	// process (the message says which): close that one first. It is
	// badgerstore.ErrLocked.
	ErrLocked = badgerstore.ErrLocked

	// ErrIntegrity is fetch.ErrIntegrity.
	ErrIntegrity = fetch.ErrIntegrity
	// ErrOffline is fetch.ErrOffline.
	ErrOffline = fetch.ErrOffline
)

// Names under which the engine keeps secrets in its crypto.KeyStore.
const (
	keyNameToken = "relay-token"
)

// Engine is Segue's embeddable engine: the device store, the device
// identity, and the fetcher that gets verified encrypted audio from its
// cache or its relays and decrypts it in memory, plus the subsystems
// started on it (player, downloads, documents, history), which it owns
// and closes. It is safe for concurrent use. Close it when done.
type Engine struct {
	dir       string
	opts      Options
	log       *slog.Logger
	st        store.Store
	ownStore  bool
	ks        crypto.KeyStore
	id        *crypto.Identity
	fetcher   *fetch.Fetcher
	client    *http.Client // every relay request
	ownClient bool         // client was made for this engine (not WithHTTPClient)

	calls     *gate // public calls; Close shuts it first
	closeOnce sync.Once

	mu          sync.Mutex
	token       string
	pin         *device.Pin        // the trusted catalog key
	docs        map[*Docs]struct{} // opened by OpenDocs, not yet closed (at most one)
	docsOpening bool               // an OpenDocs holds the one Docs slot (reserveDocs)

	keys    keyCache
	heads   *ttlmap.Map[string, headEntry] // Prefetch's (prefetch.go), at most maxHeads for the key TTL
	player  playerState                    // player.go
	offline offlineState                   // downloads.go, offline.go
	revoke  revocationCheck                // offline.go
	history *History                       // history.go
	social  socialState                    // social.go
	search  searchState                    // search.go
}

// Open opens (creating if needed) the engine's data directory dir: the
// store (Badger in dir/db unless WithStore), the key store (dir/keys
// unless WithKeyStore), the device identity (created once, then
// reloaded), the relay token if the device registered before (dropped
// when the identity was lost and made anew: the device registers
// again), and the blob cache index. Unless WithHTTPClient, it makes the
// engine's own HTTP client (never shared with another engine). It does
// no network I/O. opts must come from DefaultOptions (ErrOptions).
func Open(ctx context.Context, dir string, opts Options) (*Engine, error) {
	if len(opts.origins) == 0 {
		return nil, ErrNoOrigins
	}
	if opts.logger == nil || opts.clock == nil {
		return nil, ErrOptions
	}
	opts.origins = append([]string(nil), opts.origins...)
	e := &Engine{dir: dir, opts: opts, log: opts.logger, st: opts.store, ks: opts.keyStore,
		client: opts.httpClient, calls: newGate(), docs: map[*Docs]struct{}{}}
	if e.client == nil {
		e.client, e.ownClient = newRelayClient(opts.http2, opts.dial), true
	}
	e.keys.ttl = opts.keyTTL
	e.keys.entries = map[string]keyEntry{}
	e.heads = ttlmap.New[string, headEntry](maxHeads, opts.keyTTL, opts.clock.Now)
	if err := e.open(ctx); err != nil {
		e.closeStore()
		if e.ownClient {
			e.client.CloseIdleConnections()
		}
		return nil, err
	}
	e.history = &History{q: playlog.New(e.st), calls: newGate(), stamp: e.stampPlay}
	return e, nil
}

func (e *Engine) open(ctx context.Context) error {
	if e.st == nil {
		if err := os.MkdirAll(e.dir, 0o700); err != nil {
			return fmt.Errorf("core: create data dir: %w", err)
		}
		st, err := badgerstore.Open(ctx, filepath.Join(e.dir, "db"), badgerstore.DefaultOptions().WithLogger(e.log))
		if err != nil {
			return fmt.Errorf("core: open store: %w", err)
		}
		e.st, e.ownStore = st, true
	}
	if err := store.CheckSchema(ctx, e.st); err != nil {
		return fmt.Errorf("core: %w", err)
	}
	if e.ks == nil {
		ks, err := crypto.NewFileKeyStore(filepath.Join(e.dir, "keys"), crypto.DefaultFileKeyStoreOptions())
		if err != nil {
			return fmt.Errorf("core: open key store: %w", err)
		}
		e.ks = ks
	}
	_, idErr := e.ks.Load(ctx, crypto.IdentityKeyName)
	id, err := crypto.LoadOrCreateIdentity(ctx, e.ks, rand.Reader)
	if errors.Is(err, crypto.ErrBadKey) || errors.Is(err, crypto.ErrBadKeyFile) {
		return fmt.Errorf("%w: %w", ErrIdentityDamaged, err)
	}
	if err != nil {
		return fmt.Errorf("core: device identity: %w", err)
	}
	e.id = id
	switch tok, err := e.ks.Load(ctx, keyNameToken); {
	case err == nil && len(tok) > 0 && errors.Is(idErr, crypto.ErrKeyNotFound):
		// The token was issued to an identity whose key is gone: the
		// relay would wrap keys to it. Dropped (saved empty: the key
		// store cannot delete), so the device registers again.
		e.log.Warn("core: device identity was missing and is new; the relay token of the old one is dropped: register again", "device", id.DeviceID())
		if err := e.ks.Save(ctx, keyNameToken, nil); err != nil {
			return fmt.Errorf("core: drop relay token: %w", err)
		}
	case err == nil:
		e.token = string(tok)
	case !errors.Is(err, crypto.ErrKeyNotFound):
		return fmt.Errorf("core: load relay token: %w", err)
	}
	var fixed ed25519.PublicKey
	if len(e.opts.catalogKey) != 0 {
		fixed = e.opts.catalogKey
	}
	pin, err := device.LoadPin(ctx, e.st, fixed)
	if errors.Is(err, device.ErrBadPin) {
		// A stored key of the wrong size is no key: it is deleted and the
		// relay's is pinned again at the next request, as on a device
		// that never pinned one (the web player does the same). Whoever
		// can write the store can delete the record as well, so this
		// gives nobody more; a key of the right size that is not the
		// relay's is still refused (device.ErrCatalogKeyMismatch).
		e.log.Warn("core: damaged pinned catalog key deleted; the relay's is pinned again", "key", device.PinKey, "err", err)
		if err := e.st.Delete(ctx, []byte(device.PinKey)); err != nil {
			return fmt.Errorf("core: delete damaged catalog key: %w", err)
		}
		pin, err = device.LoadPin(ctx, e.st, fixed)
	}
	if err != nil {
		return fmt.Errorf("core: %w", err)
	}
	e.pin = pin
	origins := make([]fetch.Origin, len(e.opts.origins))
	for i, u := range e.opts.origins {
		o, err := fetch.NewHTTPOrigin(u, e.client, e.Token)
		if err != nil {
			return fmt.Errorf("core: %w", err)
		}
		origins[i] = o
		e.opts.origins[i] = o.Name()
	}
	fopts := fetch.DefaultOptions().WithCacheBytes(e.opts.cacheBytes).WithLogger(e.log).WithObserver(e.opts.observer).
		WithClock(e.opts.clock)
	f, err := fetch.New(ctx, e.st, origins, e.catalogKey, fopts)
	if err != nil {
		return fmt.Errorf("core: %w", err)
	}
	e.fetcher = f
	return nil
}

func (e *Engine) closeStore() error {
	if e.ownStore && e.st != nil {
		return e.st.Close()
	}
	return nil
}

// DeviceID returns this device's id (derived from its Ed25519 key).
func (e *Engine) DeviceID() model.DeviceID { return e.id.DeviceID() }

// Token returns the relay device token, or "" before Register. It is a
// secret: never log it.
func (e *Engine) Token() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token
}

// Store returns the engine's store, for the engine's other subsystems
// (sync, history). It stays owned by the engine and is closed by Close
// (unless given with WithStore).
func (e *Engine) Store() store.Store { return e.st }

// Fetcher returns the engine's fetcher (verified encrypted blobs), shared
// with the player and downloads. It stays owned by the engine; do not use
// it after Close.
func (e *Engine) Fetcher() *fetch.Fetcher { return e.fetcher }

// SignUp creates an account on the relay (POST /v1/accounts), for relays
// with open signup. It does not register this device: call Register. A
// name taken is ErrAccountExists, a relay without open signup
// ErrSignupClosed; a refusal for the rate of signups matches
// api.ErrRetryLater.
func (e *Engine) SignUp(ctx context.Context, username, password string) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	in := api.AccountRequest{Username: username, Password: password}
	err = e.call(ctx, "POST", "/v1/accounts", in, nil, false)
	var se *fetch.StatusError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && se.Code == http.StatusConflict:
		return fmt.Errorf("%w: %s (%w)", ErrAccountExists, safetext.Quote(username), err)
	case errors.As(err, &se) && se.Code == http.StatusForbidden:
		return fmt.Errorf("%w (%w)", ErrSignupClosed, err)
	}
	return fmt.Errorf("core: sign up: %w", err)
}

// Register registers this device with the relay under the account
// (POST /v1/devices, proving possession of the device's signing key), and
// keeps the returned token in the key store, never in logs, the
// device certificate for LAN sync at cfg/device-cert and the account's
// library document id at cfg/library-id, and the LAN keys of the
// account's devices at cfg/lan-keys (docs/ARCHITECTURE.md §6). When no
// catalog key is pinned yet, the one the relay returns is pinned (trust on
// first use); a different key than the pinned one is ErrCatalogKeyMismatch.
// An answer without a token or naming another device wraps
// device.ErrBadAnswer and ErrBadResponse.
func (e *Engine) Register(ctx context.Context, username, password, deviceName string) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	in := device.RegisterRequest(e.id, username, password, deviceName, e.opts.clock.Now())
	var out api.RegisterResponse
	if err := e.call(ctx, "POST", "/v1/devices", in, &out, false); err != nil {
		return fmt.Errorf("core: register: %w", err)
	}
	if err := device.CheckRegistered(out, e.DeviceID()); err != nil {
		return fmt.Errorf("core: register: %w %s: %w", ErrBadResponse, notRelayHint(e.opts.origins), err)
	}
	if len(out.CatalogKey) != 0 {
		pinned, err := e.pin.Set(ctx, out.CatalogKey)
		if err != nil {
			return fmt.Errorf("core: register: %w", err)
		}
		if pinned {
			e.log.Info("core: catalog key pinned on first use")
		}
	}
	if len(out.Cert) != 0 {
		if err := e.saveDeviceCert(ctx, out.Cert); err != nil {
			return fmt.Errorf("core: register: %w", err)
		}
	}
	if out.Library != "" {
		if err := e.saveLibraryID(ctx, out.Library); err != nil {
			return fmt.Errorf("core: register: %w", err)
		}
	}
	if err := e.ks.Save(ctx, keyNameToken, []byte(out.Token)); err != nil {
		return fmt.Errorf("core: register: save token: %w", err)
	}
	e.mu.Lock()
	e.token = out.Token
	e.mu.Unlock()
	// The LAN keys of the account's own devices (LAN sync with the
	// relay down); StartLAN fetches them, with those of collaborators,
	// when this fails.
	if err := e.fetchLANKeys(ctx, model.UserID(username), nil); err != nil {
		e.log.Info("core: register: LAN keys not fetched", "err", err)
	}
	// A new session: the previous one's decoded audio is not kept.
	e.heads.Clear()
	// Licenses issued under an earlier registration are renewed at once
	// (download.Manager), which tells a device registering again after a
	// deregistration that they are void.
	if dl := e.Downloads(); dl != nil {
		dl.Nudge()
	}
	e.log.Info("core: device registered", "device", e.DeviceID(), "user", username)
	return nil
}

// catalogKey is the fetcher's KeyFunc: the configured or pinned key, or
// (trust on first use) the first origin's GET /v1/catalog/key, pinned.
func (e *Engine) catalogKey(ctx context.Context) (ed25519.PublicKey, error) {
	return e.pin.Resolve(ctx, func(ctx context.Context) ([]byte, error) {
		var out api.CatalogKeyResponse
		if err := e.call(ctx, "GET", "/v1/catalog/key", nil, &out, true); err != nil {
			return nil, fmt.Errorf("fetch catalog key: %w", err)
		}
		return out.Key, nil
	})
}
