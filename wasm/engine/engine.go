package engine

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/device"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/ttlmap"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/store"
)

// Errors of the web engine.
var (
	// ErrNotLoggedIn is returned by calls that need a registered device
	// before Login.
	ErrNotLoggedIn = errors.New("engine: not logged in")
	// ErrCatalogKeyMismatch is returned when the relay presents a catalog
	// key other than the one pinned on first use (the native engine's
	// sentinel too: device.ErrCatalogKeyMismatch).
	ErrCatalogKeyMismatch = device.ErrCatalogKeyMismatch
	// ErrBadAnswer is returned for a share answer that does not make
	// sense (no tracks, a preview of another track). A registration answer
	// without a token or naming another device, or a malformed catalog
	// key, wraps device.ErrBadAnswer.
	ErrBadAnswer = errors.New("engine: bad relay answer")
	// ErrBadCredentials is returned for an empty or oversized user name or
	// password, before anything is sent.
	ErrBadCredentials = errors.New("engine: bad user name or password")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("engine: closed")
	// ErrReplaced is returned by a play call that a later play call (or
	// Stop) replaced while it waited for the network: the later one is
	// what the listener asked for last, so the earlier one does not start.
	ErrReplaced = errors.New("engine: replaced by a later play")
	// ErrBadStart is returned by PlayAlbumFrom for a start index past the
	// album's last track (or any index of an album without tracks),
	// before the player hears of the play.
	ErrBadStart = errors.New("engine: start index past the last track")
	// ErrOtherAccount is returned by Login as an account other than the
	// one this device signed in to last, before anything is sent: the
	// device's downloads, licences and queued plays are that account's
	// until it signs out (SignOut, then the page clears its stores).
	ErrOtherAccount = errors.New("engine: this browser is signed in to another account: sign out first")
)

// Store keys and key-store names the engine uses.
const (
	keyToken       = "token"
	keyAccount     = "account"
	maxJSONBody    = 1 << 20
	maxCredentials = 256
)

// Options configure an Engine. Start from DefaultOptions.
type Options struct {
	client     fetch.Doer
	logger     *slog.Logger
	clock      func() time.Time
	cacheBytes int64
	keyTTL     time.Duration
	player     player.Options
	deviceName string
	mark       func(name string)
	// uploadRetry and uploadRetryMax bound the play uploader's waits
	// (WithUploadRetry).
	uploadRetry, uploadRetryMax time.Duration
	// uploadTimeout bounds each upload request (WithUploadTimeout).
	uploadTimeout time.Duration
	// uploadLock, when not nil, is held by each upload (WithUploadLock).
	uploadLock func(ctx context.Context) (release func(), err error)
}

// DefaultOptions returns fetch.DefaultDoer() (the browser's Fetch API
// under GOOS=js, http.DefaultClient elsewhere), slog.Default(), time.Now, a 256 MiB encrypted-blob cache,
// content keys kept 10 minutes in memory, player.DefaultOptions() (tier
// high, track gain), the device name "web" and play uploads retried
// after 5 s, doubling up to 5 min, each request bounded to 2 min.
func DefaultOptions() Options {
	return Options{client: fetch.DefaultDoer(), logger: slog.Default(), clock: time.Now,
		cacheBytes: 256 << 20, keyTTL: 10 * time.Minute, player: player.DefaultOptions(), deviceName: "web",
		mark: func(string) {}, uploadRetry: 5 * time.Second, uploadRetryMax: 5 * time.Minute,
		uploadTimeout: 2 * time.Minute}
}

// WithHTTPClient sets the HTTP client (an *http.Client, or any
// fetch.Doer); nil keeps the default.
func (o Options) WithHTTPClient(c fetch.Doer) Options {
	if c != nil {
		o.client = fetch.OrDefault(c)
	}
	return o
}

// WithLogger sets the logger; nil keeps the default.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithClock sets the clock; nil keeps time.Now.
func (o Options) WithClock(now func() time.Time) Options {
	if now != nil {
		o.clock = now
	}
	return o
}

// WithCacheBytes bounds the encrypted-blob cache (default 256 MiB).
func (o Options) WithCacheBytes(n int64) Options { o.cacheBytes = max(n, 0); return o }

// WithPlayer sets the player options (tier, gain, block size…); the
// engine adds its device id and history.
func (o Options) WithPlayer(p player.Options) Options { o.player = p; return o }

// WithDeviceName sets the name Login registers the device under
// (default "web").
func (o Options) WithDeviceName(n string) Options { o.deviceName = n; return o }

// Milestones on the way from a play call to the first audio, named as
// the page's Performance API marks (WithMarker).
const (
	MarkAlbum     = "segue:album"      // the album's metadata is known
	MarkKeyAnswer = "segue:key-answer" // the relay's stream-key answer is read and decoded (before the HPKE unwrap)
	MarkKey       = "segue:key"        // a track's content key is unwrapped
	MarkManifest  = "segue:manifest"   // a track's manifest is verified, header and chunk 0 fetched
	MarkHeader    = "segue:header"     // the decoder has a track's decrypted header
	MarkChunk     = "segue:chunk"      // the decoder has chunk 0 (or the seek's chunk), verified, still encrypted
	MarkDecrypt   = "segue:decrypt"    // that chunk is decrypted
)

// WithMarker sets the function told of each milestone (MarkAlbum…) as
// it happens, for every track the player opens; the web player turns the
// first of each after a play call into a Performance API mark. nil keeps
// none.
func (o Options) WithMarker(mark func(name string)) Options {
	if mark != nil {
		o.mark = mark
	}
	return o
}

// Bounds of the engine's memory caches.
const (
	// maxMemoAlbums bounds the album answers kept in memory.
	maxMemoAlbums = 64
	// maxMemoManifests bounds the verified manifests kept in memory.
	maxMemoManifests = 256
)

// Engine is one browser device: identity, token, fetcher and player. It is
// safe for concurrent use.
type Engine struct {
	opts    Options
	relay   string
	st      store.Store
	ks      crypto.KeyStore
	id      *crypto.Identity
	api     fetch.JSONClient
	fetcher *fetch.Fetcher
	origin  *fetch.HTTPOrigin
	hist    *History
	// albums and manifests are what this session fetched (album answers)
	// and verified (manifests), for the key TTL: a play of something
	// prefetched or just shown waits for no IndexedDB read, request or
	// signature check.
	albums    *ttlmap.Map[model.AlbumID, albumAnswer]
	manifests *ttlmap.Map[manifestID, *model.Manifest]
	// heads are the first frames of the tracks Prefetch readied, decoded,
	// for the key TTL (maxHeads): a play of one starts its output with
	// them before its decoder reads anything (player.HeadSource).
	heads *ttlmap.Map[manifestID, decodedHead]
	// late is PlayTracks' background metadata fill.
	late player.Late

	// plays counts the play calls (and stops): a play starts only if no
	// later one was made while it waited for the network (ErrReplaced);
	// playMu makes that check and the player's start one step.
	plays  atomic.Uint64
	playMu sync.Mutex

	mu    sync.Mutex
	token string
	pin   *device.Pin // the trusted catalog key
	keys  map[string]keyEntry
	p     *player.Player
	// preview is the share link PlayShare plays while signed out.
	preview *preview
	dl      *download.Manager
	closed  bool
	warmed  bool // Prefetch decoded its warm-up
	// warmStop cancels the running Warm, nil when none.
	warmStop context.CancelFunc
	// streamed maps the blobs of tracks opened for play to their track
	// (the zero id for a blob two tracks share); see streamedOnly.
	streamed map[[32]byte]manifestID
	// behind counts the stores written behind a play (streamReads.Set).
	behind sync.WaitGroup
	// onUnauth is told when the relay refuses the token; refused is the
	// token it last refused (see auth.go).
	onUnauth func()
	refused  string

	// The play uploader (plays.go): upMu makes uploads one at a time;
	// upKick and upStored wake runUploads, upStop ends it and upDone is
	// closed when it has; onUploaded is told each background outcome;
	// upHidden asks the next background upload to use keepalive.
	upMu     sync.Mutex
	upHidden atomic.Bool
	upKick   chan struct{}
	// upTimer, when set (tests: SetUploadTimer), stands for the
	// uploader's retry timer: it returns the channel that fires after d.
	upTimer    atomic.Pointer[func(d time.Duration) <-chan time.Time]
	upStored   chan struct{}
	upStop     context.CancelFunc
	upDone     chan struct{}
	onUploaded func(playlog.Summary, error)
}

type albumAnswer struct {
	album  model.Album
	tracks []model.Track
}

type manifestID struct {
	track model.TrackID
	tier  model.Tier
}

// decodedHead is a track's head with the manifest and content key it was
// decoded under: a play uses it only with the same two (headOf).
type decodedHead struct {
	m   *model.Manifest
	key crypto.ContentKey
	pcm []float32
}

type keyEntry struct {
	key     crypto.ContentKey
	expires time.Time
}

// Open opens the engine for the relay at relayURL (http or https origin)
// over st (manifests, encrypted blobs, the pinned catalog key, play
// history) and ks (identity and token). It does no network I/O: its
// play uploader (UploadPlays) waits for a stored play, Login or
// SendPlays. The engine does not own st or ks.
func Open(ctx context.Context, relayURL string, st store.Store, ks crypto.KeyStore, opts Options) (*Engine, error) {
	u, err := url.Parse(relayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("engine: relay %q: %w", relayURL, fetch.ErrBadOrigin)
	}
	base := strings.TrimRight(relayURL, "/")
	id, err := crypto.LoadOrCreateIdentity(ctx, ks, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e := &Engine{opts: opts, relay: base, st: st, ks: ks, id: id, keys: map[string]keyEntry{}, streamed: map[[32]byte]manifestID{},
		albums:    ttlmap.New[model.AlbumID, albumAnswer](maxMemoAlbums, opts.keyTTL, opts.clock),
		manifests: ttlmap.New[manifestID, *model.Manifest](maxMemoManifests, opts.keyTTL, opts.clock),
		heads:     ttlmap.New[manifestID, decodedHead](maxHeads, opts.keyTTL, opts.clock)}
	switch tok, err := ks.Load(ctx, keyToken); {
	case err == nil:
		e.token = string(tok)
	case !errors.Is(err, crypto.ErrKeyNotFound):
		return nil, fmt.Errorf("engine: load token: %w", err)
	}
	if e.pin, err = loadPin(ctx, st, opts.logger); err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.api = fetch.JSONClient{Origins: []string{base}, Client: opts.client, Token: e.Token, MaxBody: maxJSONBody}
	o, err := fetch.NewHTTPOrigin(base, opts.client, e.Token)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.origin = o
	e.fetcher, err = fetch.New(ctx, streamReads{Store: st, e: e}, []fetch.Origin{o}, e.catalogKey,
		fetch.DefaultOptions().WithCacheBytes(opts.cacheBytes).WithLogger(opts.logger))
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	e.hist = newHistory(st, opts.logger.Error, e.playStored)
	e.upKick, e.upStored, e.upDone = make(chan struct{}, 1), make(chan struct{}, 1), make(chan struct{})
	uctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	e.upStop = stop
	go e.runUploads(uctx)
	return e, nil
}

// DeviceID returns this device's id.
func (e *Engine) DeviceID() model.DeviceID { return e.id.DeviceID() }

// Token returns the device token, "" before Login.
func (e *Engine) Token() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token
}

// Relay returns the relay's base URL.
func (e *Engine) Relay() string { return e.relay }

// History returns the play history the player appends to.
func (e *Engine) History() *History { return e.hist }

func checkCredentials(user, pass string) error {
	if user == "" || pass == "" || len(user) > maxCredentials || len(pass) > maxCredentials {
		return ErrBadCredentials
	}
	return nil
}

// SignUp creates an account (POST /v1/accounts). It does not log in.
func (e *Engine) SignUp(ctx context.Context, user, pass string) error {
	if err := checkCredentials(user, pass); err != nil {
		return err
	}
	if _, err := e.api.Do(ctx, http.MethodPost, "/v1/accounts", api.AccountRequest{Username: user, Password: pass}, nil, false); err != nil {
		return fmt.Errorf("engine: sign up: %w", err)
	}
	return nil
}

// Login registers this device under the account (POST /v1/devices with
// the proof of possession of its signing key), keeps the token in the key
// store and pins the catalog key the relay returns (trust on first use;
// a different key than the pinned one is ErrCatalogKeyMismatch). It
// records the account in the key store: a Login as another account is
// ErrOtherAccount until the device signs out (SignOut, and the key store
// cleared), so that nobody signing in on the same browser is given the
// previous account's downloads, licences or queued plays.
func (e *Engine) Login(ctx context.Context, user, pass string) error {
	if err := checkCredentials(user, pass); err != nil {
		return err
	}
	switch prev, err := e.ks.Load(ctx, keyAccount); {
	case err == nil && string(prev) != user:
		return ErrOtherAccount
	case err != nil && !errors.Is(err, crypto.ErrKeyNotFound):
		return fmt.Errorf("engine: login: read account: %w", err)
	}
	in := device.RegisterRequest(e.id, user, pass, e.opts.deviceName, e.opts.clock())
	var out api.RegisterResponse
	if _, err := e.api.Do(ctx, http.MethodPost, "/v1/devices", in, &out, false); err != nil {
		return fmt.Errorf("engine: login: %w", err)
	}
	if err := device.CheckRegistered(out, e.DeviceID()); err != nil {
		return fmt.Errorf("engine: login: %w", err)
	}
	if len(out.CatalogKey) != 0 {
		if _, err := e.pin.Set(ctx, out.CatalogKey); err != nil {
			return fmt.Errorf("engine: login: %w", err)
		}
	}
	if err := e.ks.Save(ctx, keyAccount, []byte(user)); err != nil {
		return fmt.Errorf("engine: login: save account: %w", err)
	}
	if err := e.ks.Save(ctx, keyToken, []byte(out.Token)); err != nil {
		return fmt.Errorf("engine: login: save token: %w", err)
	}
	e.mu.Lock()
	e.token = out.Token
	e.mu.Unlock()
	// A new session: the previous one's decoded audio is not kept.
	e.heads.Clear()
	// Plays queued while signed out (or under a refused token) go now.
	e.SendPlays()
	return nil
}

// SignOut sends the queued plays (UploadPlays: a signed-out browser
// could never send them), then removes this device from its account at
// the relay (DELETE /v1/devices/{id}): its tokens stop working, its
// offline slot is freed and its licences are void. A token the relay
// already refuses (401) or a device it no longer knows (404) is signed
// out already. The engine then holds no token; the page clears the
// browser's stores (segue.js signOut). Without a token there is nothing
// to tell the relay. A failure leaves the device registered.
func (e *Engine) SignOut(ctx context.Context) error {
	if e.Token() != "" {
		if _, err := e.UploadPlays(ctx); err != nil && !errors.Is(err, ErrUnauthorized) {
			return fmt.Errorf("engine: sign out: send the queued plays: %w", err)
		}
		_, err := e.api.Do(ctx, http.MethodDelete, "/v1/devices/"+url.PathEscape(string(e.DeviceID())), nil, nil, true)
		var se *fetch.StatusError
		if err != nil && !(errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusNotFound)) {
			return fmt.Errorf("engine: sign out: %w", err)
		}
	}
	e.mu.Lock()
	e.token = ""
	e.mu.Unlock()
	return nil
}

// loadPin loads the pinned catalog key from st. A damaged one (not a key:
// a record written by hand or cut short) is deleted, with a warning, and
// the relay's key is pinned again at the next request, as for a browser
// that never pinned one: whoever can write the browser's IndexedDB can
// delete it as well, and the page would otherwise fail to open at every
// load until its site data were cleared by hand.
func loadPin(ctx context.Context, st store.Store, log *slog.Logger) (*device.Pin, error) {
	p, err := device.LoadPin(ctx, st, nil)
	if !errors.Is(err, device.ErrBadPin) {
		return p, err
	}
	log.Warn("engine: damaged pinned catalog key deleted; the relay's is pinned again", "err", err)
	if err := st.Delete(ctx, []byte(device.PinKey)); err != nil {
		return nil, fmt.Errorf("delete damaged catalog key: %w", err)
	}
	return device.LoadPin(ctx, st, nil)
}

// catalogKey is the fetcher's KeyFunc: the pinned key, else the relay's
// GET /v1/catalog/key pinned on first use.
func (e *Engine) catalogKey(ctx context.Context) (ed25519.PublicKey, error) {
	return e.pin.Resolve(ctx, func(ctx context.Context) ([]byte, error) {
		var out api.CatalogKeyResponse
		if _, err := e.api.Do(ctx, http.MethodGet, "/v1/catalog/key", nil, &out, true); err != nil {
			return nil, e.authErr(fmt.Errorf("fetch catalog key: %w", err))
		}
		return out.Key, nil
	})
}

func (e *Engine) authErr(err error) error {
	if errors.Is(err, fetch.ErrNoToken) {
		return fmt.Errorf("%w: %w", ErrNotLoggedIn, err)
	}
	return e.unauthorized(err)
}

// Album returns an album and its tracks in album order, owned by the
// caller: as an album download recorded it (no network; see
// OpenDownloads), else from the relay (GET /v1/albums/{id}). The answer
// is kept in memory for the key TTL, for a play of the album
// (PlayAlbumFrom).
func (e *Engine) Album(ctx context.Context, id model.AlbumID) (model.Album, []model.Track, error) {
	if a, tracks, ok := e.recordedAlbum(ctx, id); ok {
		e.albums.Put(id, albumAnswer{a, slices.Clone(tracks)})
		return a, tracks, nil
	}
	var out api.AlbumResponse
	if _, err := e.api.Do(ctx, http.MethodGet, "/v1/albums/"+url.PathEscape(string(id)), nil, &out, true); err != nil {
		return model.Album{}, nil, e.authErr(fmt.Errorf("engine: album %s: %w", id, err))
	}
	e.albums.Put(id, albumAnswer{out.Album, slices.Clone(out.Tracks)})
	return out.Album, out.Tracks, nil
}

// AlbumTracks returns how many tracks album id has when the engine holds
// its answer in memory (Album within the key TTL), so that a play of it
// asks the relay nothing before its tracks' own requests; ok is false
// otherwise.
func (e *Engine) AlbumTracks(id model.AlbumID) (n int, ok bool) {
	m, ok := e.albums.Get(id)
	return len(m.tracks), ok
}

// Track returns a track's metadata: as a download recorded it, else
// from the relay (GET /v1/tracks/{id}).
func (e *Engine) Track(ctx context.Context, id model.TrackID) (model.Track, error) {
	if t, ok := e.recordedTrack(ctx, id); ok {
		return t, nil
	}
	var t model.Track
	if _, err := e.api.Do(ctx, http.MethodGet, "/v1/tracks/"+url.PathEscape(string(id)), nil, &t, true); err != nil {
		return model.Track{}, e.authErr(fmt.Errorf("engine: track %s: %w", id, err))
	}
	return t, nil
}

// contentKey returns the content key of (track, tier): from its offline
// license when it is downloaded (offlineKey), else from memory while
// fresh, else from POST /v1/keys/stream unwrapped with the device's HPKE
// key (telling mark MarkKeyAnswer when the answer is read). Keys are
// never stored.
func (e *Engine) contentKey(ctx context.Context, track model.TrackID, tier model.Tier, mark func(string)) (crypto.ContentKey, error) {
	if k, handled, err := e.offlineKey(ctx, track, tier); handled {
		return k, err
	}
	if k, ok := e.memoryKey(track, tier); ok {
		return k, nil
	}
	id, now := keyName(track, tier), e.opts.clock()
	nonce := make([]byte, api.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return crypto.ContentKey{}, err
	}
	var out api.StreamKeyResponse
	path := "/v1/keys/stream?nonce=" + base64.RawURLEncoding.EncodeToString(nonce)
	a, err := e.api.Do(ctx, http.MethodPost, path, api.StreamKeyRequest{Track: track, Tier: tier}, &out, true)
	if err != nil {
		return crypto.ContentKey{}, e.authErr(fmt.Errorf("content key %s/%s: %w", track, tier, err))
	}
	mark(MarkKeyAnswer)
	// The trusted clock's update commits to IndexedDB (strict
	// durability): it runs beside the play, not before its first audio.
	go e.observeStatement(context.WithoutCancel(ctx), a.Header.Get(api.StatementHeader), nonce)
	k, err := e.id.UnwrapContentKey(crypto.StreamKeyInfo(track, tier), out.Wrapped)
	if err != nil {
		return crypto.ContentKey{}, fmt.Errorf("unwrap content key %s/%s: %w", track, tier, err)
	}
	e.mu.Lock()
	for id, k := range e.keys {
		if !now.Before(k.expires) {
			delete(e.keys, id)
		}
	}
	e.keys[id] = keyEntry{key: k, expires: now.Add(e.opts.keyTTL)}
	e.mu.Unlock()
	return k, nil
}

// keyName is the key of (track, tier) in Engine.keys.
func keyName(track model.TrackID, tier model.Tier) string {
	return string(track) + "\x00" + string(tier)
}

// memoryKey returns the content key of (track, tier) kept in memory,
// while it is fresh.
func (e *Engine) memoryKey(track model.TrackID, tier model.Tier) (crypto.ContentKey, bool) {
	now := e.opts.clock()
	e.mu.Lock()
	defer e.mu.Unlock()
	k, ok := e.keys[keyName(track, tier)]
	if !ok || !now.Before(k.expires) {
		return crypto.ContentKey{}, false
	}
	return k.key, true
}

// OpenPlayer starts the engine's player on sink (once; later calls
// return the same player). Play events go to History with this device's
// id.
func (e *Engine) OpenPlayer(sink player.Sink) (*player.Player, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	if e.p != nil {
		return e.p, nil
	}
	p, err := player.New(Source{e}, sink, e.opts.player.WithDevice(e.id.DeviceID()).WithHistory(e.hist).WithLogger(e.opts.logger))
	if err != nil {
		return nil, fmt.Errorf("engine: open player: %w", err)
	}
	e.p = p
	return p, nil
}

// Player returns the player OpenPlayer started, or nil.
func (e *Engine) Player() *player.Player {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.p
}

// PlayAlbum plays album id from track index start (context "album"),
// gaplessly, with album loudness available to GainAlbum mode — as
// core.Engine.PlayAlbum does.
func (e *Engine) PlayAlbum(ctx context.Context, id model.AlbumID, start int) error {
	return e.PlayAlbumFrom(ctx, id, start, 0)
}

// PlayAlbumFrom is PlayAlbum starting at output frame frame of track
// start, sample-exactly (player.Player.PlayFrom). A start past the
// album's last track is refused with ErrBadStart; a later play call or
// Stop made while it waits for the relay replaces it (ErrReplaced).
//
// An album this session fetched within the key TTL (Album, as the page's
// album view does) is not asked for again: the play waits for no
// request before the track's own.
func (e *Engine) PlayAlbumFrom(ctx context.Context, id model.AlbumID, start int, frame int64) error {
	return e.playAlbumFrom(ctx, e.plays.Add(1), id, start, frame)
}

// playAlbumFrom is PlayAlbumFrom as play call ticket (e.plays).
func (e *Engine) playAlbumFrom(ctx context.Context, ticket uint64, id model.AlbumID, start int, frame int64) error {
	var (
		a      model.Album
		tracks []model.Track
		err    error
	)
	// The memo's tracks are only read (play copies what it needs), so
	// they are not copied on the way to the first audio.
	if m, ok := e.albums.Get(id); ok {
		a, tracks = m.album, m.tracks
	} else if a, tracks, err = e.Album(ctx, id); err != nil {
		return err
	}
	if start < 0 || start >= len(tracks) {
		return fmt.Errorf("engine: play album %s: start %d is past its %d tracks: %w", id, start, len(tracks), ErrBadStart)
	}
	e.opts.mark(MarkAlbum)
	return e.play(ticket, model.PlayContext{Kind: "album", ID: string(id)}, tracks, start, frame, a.Loudness)
}

// PlayTracks plays tracks by id in context c from index start, each with
// its own gain, as core.Engine.PlayTracks does: it waits only for the
// metadata of the first 100 entries from start on; the others are queued
// by id and described in the background (player.Player.FillLate) until
// the next play or Close. A track whose metadata cannot be had stays
// queued by id; the player skips it if it cannot play. When no track of
// the first 100 can be described, it waits for all of them.
func (e *Engine) PlayTracks(ctx context.Context, c model.PlayContext, ids []model.TrackID, start int) error {
	return e.PlayTracksFrom(ctx, c, ids, start, 0)
}

// PlayTracksFrom is PlayTracks starting at output frame frame of track
// start, sample-exactly (player.Player.PlayFrom), as
// core.Engine.PlayTracksFrom does.
//
// The tracks' metadata comes from TrackInfos (batches of 100, not one
// request per track); a later play call or Stop made meanwhile replaces
// this one (ErrReplaced).
func (e *Engine) PlayTracksFrom(ctx context.Context, c model.PlayContext, ids []model.TrackID, start int, frame int64) error {
	return e.playTracksFrom(ctx, e.plays.Add(1), c, ids, start, frame)
}

// playTracksFrom is PlayTracksFrom as play call ticket (e.plays).
func (e *Engine) playTracksFrom(ctx context.Context, ticket uint64, c model.PlayContext, ids []model.TrackID, start int, frame int64) error {
	e.late.Stop() // the network is this play's first
	order := player.StartOrder(len(ids), start)
	head, rest := order[:min(len(order), trackBatch)], order[min(len(order), trackBatch):]
	items := make([]player.Item, len(ids))
	for i, id := range ids {
		items[i].Track = id
	}
	if e.describeAt(ctx, ids, head, items) == 0 && len(rest) > 0 {
		e.describeAt(ctx, ids, rest, items)
		rest = nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := e.playItems(ticket, c, items, start, frame); err != nil || len(rest) == 0 {
		return err
	}
	p := e.Player()
	if p == nil { // closed since the play
		return nil
	}
	e.playMu.Lock()
	defer e.playMu.Unlock()
	if e.plays.Load() != ticket { // stopped or replaced since the play
		return nil
	}
	e.late.Replace(ctx, func(ctx context.Context) {
		err := p.FillLate(ctx, ids, rest, func(ctx context.Context, ids []model.TrackID) ([]model.Track, []error) {
			tracks, errs := e.TrackInfos(ctx, ids)
			e.logUndescribed(ids, errs)
			return tracks, errs
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			e.opts.logger.Info("engine: background track metadata ended early", "err", err)
		}
	})
	return nil
}

// describeAt sets items[i] for the indexes at of ids that TrackInfos
// describes, logs the others, and returns how many it described.
func (e *Engine) describeAt(ctx context.Context, ids []model.TrackID, at []int, items []player.Item) int {
	ask := make([]model.TrackID, len(at))
	for k, i := range at {
		ask[k] = ids[i]
	}
	got, errs := e.TrackInfos(ctx, ask)
	known := 0
	for k, err := range errs {
		if err == nil {
			items[at[k]] = player.ItemOf(got[k], model.Loudness{})
			known++
		}
	}
	e.logUndescribed(ask, errs)
	return known
}

// logUndescribed logs the tracks of ids whose metadata could not be had
// (errs[i] not nil): each while there are at most 10, else their count
// and the first error.
func (e *Engine) logUndescribed(ids []model.TrackID, errs []error) {
	var failed []int
	for i, err := range errs {
		if err != nil {
			failed = append(failed, i)
		}
	}
	if len(failed) > 10 {
		e.opts.logger.Warn("engine: no metadata for some tracks; the player tries them by id", "tracks", len(failed), "first", ids[failed[0]], "err", errs[failed[0]])
		return
	}
	for _, i := range failed {
		e.opts.logger.Warn("engine: no metadata for a track; the player tries it by id", "track", ids[i], "err", errs[i])
	}
}

// play plays tracks, which it only reads, unless a play call later than
// ticket was made (ErrReplaced).
func (e *Engine) play(ticket uint64, c model.PlayContext, tracks []model.Track, start int, frame int64, album model.Loudness) error {
	items := make([]player.Item, len(tracks))
	for i, t := range tracks {
		items[i] = player.ItemOf(t, album)
	}
	return e.playItems(ticket, c, items, start, frame)
}

// playItems plays items, ending the background fill of the queue they
// replace, unless a play call later than ticket was made (ErrReplaced).
func (e *Engine) playItems(ticket uint64, c model.PlayContext, items []player.Item, start int, frame int64) error {
	p := e.Player()
	if p == nil {
		return fmt.Errorf("engine: play: no player")
	}
	e.playMu.Lock()
	defer e.playMu.Unlock()
	if e.plays.Load() != ticket {
		return fmt.Errorf("engine: play %s %s: %w", c.Kind, c.ID, ErrReplaced)
	}
	e.late.Stop() // the queue it describes is being replaced
	// A prefetched first track has its first block written before this
	// returns: no goroutine hand-off between the play call and its audio.
	return p.PlayNow(player.PlayContext{Context: c, Items: items, Start: start, StartFrame: frame})
}

// Stop ends the play (player.Player.Stop) and the background metadata
// fill of its queue; a play call still waiting for the network does not
// start after it (ErrReplaced).
func (e *Engine) Stop() error {
	e.playMu.Lock()
	e.plays.Add(1)
	e.late.Stop() // the queue it describes ends
	e.playMu.Unlock()
	p := e.Player()
	if p == nil {
		return fmt.Errorf("engine: stop: no player")
	}
	return p.Stop()
}

// Close stops the player, the play uploader (an upload in flight is
// abandoned: its plays stay queued) and the downloads manager, forgets
// the content keys and waits for the stores written behind a play. It does not close
// the store, the key store or the sink.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	p, dl := e.p, e.dl
	e.p, e.dl = nil, nil
	clear(e.keys)
	e.mu.Unlock()
	e.late.Stop()
	e.albums.Clear()
	e.manifests.Clear()
	e.heads.Clear()
	var err error
	if p != nil {
		err = p.Close()
	}
	if dl != nil {
		e.fetcher.SetPinned(nil)
		err = errors.Join(err, dl.Close())
	}
	if e.upStop != nil { // the warm-up's shadow engine has no uploader
		e.upStop()
		<-e.upDone
	}
	e.hist.Flush()
	e.behind.Wait()
	return errors.Join(err, e.fetcher.Flush(context.Background()))
}

// ErrBadPath is returned by GetJSON for a path outside the read-only
// catalog routes it allows.
var ErrBadPath = errors.New("engine: path not allowed")

// getPrefixes are the relay routes GetJSON may read for the page.
var getPrefixes = []string{"/v1/search?", "/v1/albums/", "/v1/tracks/", "/v1/artists/", "/v1/me"}

// GetJSON returns the body of an authenticated GET of a catalog route
// (/v1/search?…, /v1/albums/…, /v1/tracks/…, /v1/artists/…, /v1/me), for
// the page's library views; the bytes are the caller's.
func (e *Engine) GetJSON(ctx context.Context, path string) ([]byte, error) {
	ok := false
	for _, p := range getPrefixes {
		ok = ok || strings.HasPrefix(path, p)
	}
	if !ok || strings.Contains(path, "..") {
		return nil, fmt.Errorf("%w: %q", ErrBadPath, path)
	}
	a, err := e.api.Do(ctx, http.MethodGet, path, nil, nil, true)
	if err != nil {
		return nil, e.authErr(fmt.Errorf("engine: GET %s: %w", path, err))
	}
	return a.Body, nil
}
