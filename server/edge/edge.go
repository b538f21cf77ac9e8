package edge

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/segue-fm/segue/internal/bytebudget"
	"github.com/segue-fm/segue/internal/sendtime"
	"github.com/segue-fm/segue/internal/userlimit"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/relay"
)

// Errors of the edge. Handlers answer them as the relay would: JSON
// {"error": …} with Cache-Control: no-store.
var (
	// ErrBadOptions is returned by New for unusable options.
	ErrBadOptions = errors.New("edge: bad options")
	// ErrCorrupt means the parent answered bytes whose SHA-256 does not
	// match the name (or ETag) they were asked for; they are neither
	// cached nor served (502).
	ErrCorrupt = errors.New("edge: parent sent corrupt bytes")
	// ErrTooLarge means the parent's body exceeded the largest blob (502).
	ErrTooLarge = errors.New("edge: parent body too large")
	// ErrParent means the parent could not be reached or answered an
	// unexpected status (502).
	ErrParent = errors.New("edge: parent unavailable")
	// ErrBusy means a miss found no room in the in-flight budget
	// (Options.WithInFlightBytes) within its wait (503, Retry-After).
	ErrBusy = errors.New("edge: too many bytes in flight")
	// ErrDiskInUse means another edge holds the disk directory
	// (Options.WithDiskDir): two edges sharing one would each keep its
	// own budget over the same files and delete the other's.
	ErrDiskInUse = errors.New("edge: disk cache directory in use by another edge")
	// ErrRateLimited means a client address asked the edge to check more
	// unknown tokens than Options.WithTokenCheckRate allows (429,
	// Retry-After).
	ErrRateLimited = errors.New("edge: too many token checks from this address")
)

// Stats are an edge's counters since New. Hits and Misses count GET/HEAD
// answers of the cached routes (a miss is one that waited for the parent,
// led a fetch or joined one); ParentFetches counts fetches actually sent.
type Stats struct {
	Hits, Misses   int64
	ParentFetches  int64
	Corrupt        int64 // parent answers refused by the hash check
	BytesFromCache int64 // bodies of hits (whole objects, before Range)
	BytesFetched   int64 // verified bodies fetched from the parent
	MemoryBytes    int64 // held in memory, cached or evicted while still being sent (≤ the memory budget)
	DiskBytes      int64 // held on disk (≤ the disk budget)
	PinnedObjects  int   // pre-positioned objects pinned for upcoming releases
	PinnedBytes    int64 // their bytes (≤ the pre-positioning budget)
	InFlightBytes  int64 // miss bodies reserved now (≤ the in-flight budget)
	InFlightPeak   int64 // the most InFlightBytes has been
	Busy           int64 // misses refused for want of in-flight room, the budget's or their client's (503)
	// TokenChecksLimited counts requests refused (429) because their
	// client address checked too many unknown tokens.
	TokenChecksLimited int64
	// Verdicts and Refusals are the accepted and refused token verdicts
	// held.
	Verdicts, Refusals int
}

// Edge is a caching reverse proxy in front of a relay or a parent edge.
// It is safe for concurrent use; Close releases its caches.
type Edge struct {
	opts   Options
	parent *url.URL
	store  *store
	pos    *posCache
	pins   *pins // pre-positioned releases (preposition.go)
	auth   *verdicts
	flight singleflight.Group // token checks
	calls  flights            // object fetches
	// inFlight counts the bodies of misses (Options.WithInFlightBytes).
	inFlight *bytebudget.Budget
	// shares is each client address's part of inFlight
	// (Options.WithInFlightPerClient); the edge's own fetches (no
	// address) are not charged to it.
	shares       *bytebudget.Shares
	shareRefused atomic.Int64
	// checks limits the parent checks of unknown tokens per client
	// address (Options.WithTokenCheckRate).
	checks *userlimit.Limiter

	hits, misses, fetches, corrupt, fromCache, fetched, checksLimited atomic.Int64
}

// New returns an edge with opts. It checks the options and, with a disk
// directory, loads the objects a previous run left there.
func New(opts Options) (*Edge, error) {
	if opts.inFlightClient == 0 {
		opts.inFlightClient = min(max(opts.inFlight/4, opts.maxBlob), opts.inFlight)
	}
	u, err := url.Parse(opts.parent)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return nil, fmt.Errorf("%w: parent %q: want http(s)://host[:port]", ErrBadOptions, opts.parent)
	case opts.memoryBytes <= 0:
		return nil, fmt.Errorf("%w: memory budget %d: want > 0", ErrBadOptions, opts.memoryBytes)
	case opts.diskDir != "" && opts.diskBytes <= 0:
		return nil, fmt.Errorf("%w: disk budget %d: want > 0", ErrBadOptions, opts.diskBytes)
	case opts.maxBlob <= 0 || opts.maxBlob > maxObject:
		return nil, fmt.Errorf("%w: max blob size %d: want 1 to %d", ErrBadOptions, opts.maxBlob, maxObject)
	case opts.inFlight < opts.maxBlob || opts.inFlightWait < 0 || opts.inFlightClient < opts.maxBlob || opts.inFlightClient > opts.inFlight:
		return nil, fmt.Errorf("%w: in-flight budget %d (per client %d) with wait %s: want per client at least the max blob size %d and at most the budget, a wait ≥ 0", ErrBadOptions, opts.inFlight, opts.inFlightClient, opts.inFlightWait, opts.maxBlob)
	case opts.sendGrace <= 0 || opts.sendRate <= 0:
		return nil, fmt.Errorf("%w: slow-client grace %s and rate %d: want > 0", ErrBadOptions, opts.sendGrace, opts.sendRate)
	case opts.checkEvery <= 0 || opts.checkBurst < 1:
		return nil, fmt.Errorf("%w: token check rate every %s, burst %d: want > 0 and ≥ 1", ErrBadOptions, opts.checkEvery, opts.checkBurst)
	case opts.authTTL < 0 || opts.authFailTTL < 0 || opts.originTimeout <= 0:
		return nil, fmt.Errorf("%w: negative TTL or non-positive origin timeout", ErrBadOptions)
	case opts.pinBytes < 0 || opts.pinWindow < 0:
		return nil, fmt.Errorf("%w: negative pre-positioning budget or window", ErrBadOptions)
	}
	for _, t := range opts.prepositionTiers {
		if !t.Valid() {
			return nil, fmt.Errorf("%w: pre-positioning tier %q", ErrBadOptions, t)
		}
	}
	u.Path = ""
	st, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	return &Edge{opts: opts, parent: u, store: st, pos: newPosCache(opts.now), pins: newPins(opts.pinBytes), auth: newVerdicts(opts.now),
		calls: flights{m: make(map[string]*call)}, inFlight: bytebudget.New(opts.inFlight, opts.inFlightWait),
		shares: bytebudget.NewShares(opts.inFlightClient, opts.inFlightWait),
		checks: userlimit.New(opts.checkEvery, opts.checkBurst, maxCheckAddrs)}, nil
}

// Close releases the caches. The disk objects stay for the next run.
func (e *Edge) Close() error {
	e.store.close()
	return nil
}

// Stats returns the counters.
func (e *Edge) Stats() Stats {
	mem, disk := e.store.usage()
	pinObjs, pinBytes := e.pins.usage()
	ok, refused := e.auth.size()
	return Stats{
		PinnedObjects: pinObjs, PinnedBytes: pinBytes,
		Hits: e.hits.Load(), Misses: e.misses.Load(), ParentFetches: e.fetches.Load(),
		Corrupt: e.corrupt.Load(), BytesFromCache: e.fromCache.Load(), BytesFetched: e.fetched.Load(),
		MemoryBytes: mem, DiskBytes: disk,
		InFlightBytes: e.inFlight.Used(), InFlightPeak: e.inFlight.Peak(), Busy: e.inFlight.Refused() + e.shareRefused.Load(),
		TokenChecksLimited: e.checksLimited.Load(), Verdicts: ok, Refusals: refused,
	}
}

// HitRatio returns Hits / (Hits + Misses), 0 before any request.
func (s Stats) HitRatio() float64 {
	if s.Hits+s.Misses == 0 {
		return 0
	}
	return float64(s.Hits) / float64(s.Hits+s.Misses)
}

// Handler returns the edge's HTTP handler: the cached routes, /v1/me passed
// through to the parent, and /healthz. Anything else is 404.
func (e *Edge) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /v1/me", e.authed(e.me))
	mux.HandleFunc("GET /v1/blobs/{hash}", e.authed(e.recorded(e.blob)))
	mux.HandleFunc("GET /v1/audio/{track}/{tier}/manifest", e.authed(e.positional))
	mux.HandleFunc("GET /v1/audio/{track}/{tier}/header", e.authed(e.recorded(e.positional)))
	mux.HandleFunc("GET /v1/audio/{track}/{tier}/chunks/{i}", e.authed(e.recorded(e.positional)))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "edge: no such route")
	})
	return mux
}

// authed admits only requests whose bearer token the parent accepts.
func (e *Edge) authed(h func(w http.ResponseWriter, r *http.Request, tok string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := relay.BearerToken(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, "missing bearer token")
			return
		}
		v, err := e.checkToken(r.Context(), tok, relay.ClientAddr(r))
		var rl *rateLimited
		if errors.As(err, &rl) {
			w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(rl.wait.Seconds())), 10))
			writeError(w, http.StatusTooManyRequests, err.Error())
			return
		}
		var ps *parentStatus
		if errors.As(err, &ps) {
			// A temporary refusal of the check (429, 503): passed on
			// with its wait, as for a fetch.
			e.writeFetchError(w, err)
			return
		}
		if err != nil {
			e.opts.logger.Warn("edge: token check", "err", err)
			writeError(w, http.StatusBadGateway, "edge: cannot check token with the parent")
			return
		}
		if !v.ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, "invalid or expired token")
			return
		}
		ctx := context.WithValue(r.Context(), deviceKey{}, v.device)
		h(w, r.WithContext(context.WithValue(ctx, clientKey{}, relay.ClientAddr(r))), tok)
	}
}

// me passes GET /v1/me through to the parent (never cached), so a child
// edge can validate tokens against this one.
func (e *Edge) me(w http.ResponseWriter, r *http.Request, tok string) {
	status, hdr, body, err := e.get(r.Context(), "/v1/me", tok, 64<<10, nil)
	if err != nil {
		e.writeFetchError(w, err)
		return
	}
	if status == http.StatusUnauthorized {
		e.auth.refuse(sha256.Sum256([]byte(tok)), e.opts.authFailTTL)
	}
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(hdr.Get("Retry-After")), 10))
	}
	w.Header().Set("Content-Type", hdr.Get("Content-Type"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(body)
}

// blob handles GET/HEAD /v1/blobs/{hash}.
func (e *Edge) blob(w http.ResponseWriter, r *http.Request, tok string) {
	h, err := relay.ParseBlobHash(r.PathValue("hash"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	k := objKey{kind: 'b', hash: h}
	if b, release, ok := e.lookup(k); ok {
		defer release()
		e.hit(b)
		e.serve(w, r, b, k, relay.CacheImmutable, "HIT")
		return
	}
	e.misses.Add(1)
	b, release, err := e.fetchOnce(r.Context(), k.String(), tok, func(ctx context.Context, tok string, c *call) ([]byte, error) {
		return e.fetchBlob(ctx, r.URL.Path, tok, k, c)
	})
	if err != nil {
		e.writeFetchError(w, err)
		return
	}
	defer release()
	e.serve(w, r, b, k, relay.CacheImmutable, "MISS")
}

// positional handles GET/HEAD of a manifest, header or chunk by position.
// The position → hash mapping is kept as long as the parent's max-age
// allows (an hour at the relay); the bytes are stored by hash.
func (e *Edge) positional(w http.ResponseWriter, r *http.Request, tok string) {
	if _, err := model.ParseTier(r.PathValue("tier")); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.PathValue("track") == "" {
		writeError(w, http.StatusBadRequest, "empty track id")
		return
	}
	kind := byte('b')
	if strings.HasSuffix(r.URL.Path, "/manifest") {
		kind = 'm'
	} else if i := r.PathValue("i"); i != "" {
		if _, err := relay.ParseChunkIndex(i); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	path := r.URL.EscapedPath()
	k, ok := e.pos.get(path)
	if !ok {
		k, ok = e.pins.position(path)
	}
	if ok {
		if b, release, ok := e.lookup(k); ok {
			defer release()
			e.hit(b)
			e.serve(w, r, b, k, relay.CachePositional, "HIT")
			return
		}
	}
	e.misses.Add(1)
	b, release, err := e.fetchOnce(r.Context(), "p "+path, tok, func(ctx context.Context, tok string, c *call) ([]byte, error) {
		return e.fetchPositional(ctx, path, tok, kind, c)
	})
	if err != nil {
		e.writeFetchError(w, err)
		return
	}
	defer release()
	e.serve(w, r, b, objKey{kind: kind, hash: sha256.Sum256(b)}, relay.CachePositional, "MISS")
}

// lookup returns the body of k from the pre-positioned pins, else the
// cache (owned by them: do not modify), and release, to call once the
// body is no longer read (a cached body evicted meanwhile counts against
// the memory budget until then).
func (e *Edge) lookup(k objKey) ([]byte, func(), bool) {
	if b, ok := e.pins.get(k); ok {
		return b, func() {}, true
	}
	return e.store.getHeld(k)
}

func (e *Edge) hit(b []byte) {
	e.hits.Add(1)
	e.fromCache.Add(int64(len(b)))
}

// fetchAs runs fetch with tok. When the parent refuses tok (401), the
// edge's verdict on it becomes a refusal at once: a token the relay has
// revoked stops reading cached objects at its first miss, instead of
// until its accepted verdict expires.
func (e *Edge) fetchAs(ctx context.Context, tok string, fetch func(ctx context.Context, tok string) ([]byte, error)) ([]byte, error) {
	b, err := fetch(ctx, tok)
	var ps *parentStatus
	if errors.As(err, &ps) && ps.code == http.StatusUnauthorized {
		ps.token = sha256.Sum256([]byte(tok))
		e.auth.refuse(ps.token, e.opts.authFailTTL)
	}
	return b, err
}

// fetchBlob fetches a blob from the parent (its body reserved on c),
// checks its hash and caches it.
func (e *Edge) fetchBlob(ctx context.Context, path, tok string, k objKey, c *call) ([]byte, error) {
	status, hdr, b, err := e.get(ctx, path, tok, e.opts.maxBlob, c)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &parentStatus{code: status, body: b, retryAfter: hdr.Get("Retry-After")}
	}
	if sha256.Sum256(b) != k.hash {
		e.corrupt.Add(1)
		e.opts.logger.Warn("edge: corrupt blob from parent", "path", path)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	e.fetched.Add(int64(len(b)))
	e.store.put(k, b)
	return b, nil
}

// fetchPositional fetches a positional object, checks it against the
// parent's strong ETag (the SHA-256 of the bytes, §4), caches the bytes by
// hash and remembers the position for the parent's max-age. Its body is
// reserved on c.
func (e *Edge) fetchPositional(ctx context.Context, path, tok string, kind byte, c *call) ([]byte, error) {
	status, hdr, b, err := e.get(ctx, path, tok, e.opts.maxBlob, c)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &parentStatus{code: status, body: b, retryAfter: hdr.Get("Retry-After")}
	}
	k := objKey{kind: kind}
	etag := hdr.Get("ETag")
	if len(etag) != 66 || etag[0] != '"' || etag[65] != '"' {
		e.corrupt.Add(1)
		return nil, fmt.Errorf("%w: %s: no strong SHA-256 ETag", ErrCorrupt, path)
	}
	if _, err := hex.Decode(k.hash[:], []byte(etag[1:65])); err != nil || sha256.Sum256(b) != k.hash {
		e.corrupt.Add(1)
		e.opts.logger.Warn("edge: corrupt object from parent", "path", path)
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	e.fetched.Add(int64(len(b)))
	e.store.put(k, b)
	if age := maxAge(hdr.Get("Cache-Control")); age > 0 {
		e.pos.put(path, k, age)
	}
	return b, nil
}

// maxAge returns the max-age of a Cache-Control value, 0 when absent,
// malformed, or the answer may not be stored by a shared cache.
func maxAge(cc string) time.Duration {
	var age time.Duration
	for _, d := range strings.Split(cc, ",") {
		d = strings.TrimSpace(strings.ToLower(d))
		switch {
		case d == "no-store" || d == "private" || d == "no-cache":
			return 0
		case strings.HasPrefix(d, "max-age="):
			n, err := strconv.ParseInt(d[len("max-age="):], 10, 32)
			if err != nil || n < 0 {
				return 0
			}
			age = time.Duration(n) * time.Second
		}
	}
	return age
}

// parentStatus is a non-200 answer of the parent, passed on to the client
// for 400, 401, 403, 404, and for 429 and 503 with the parent's
// Retry-After (others are a 502).
type parentStatus struct {
	code int
	body []byte
	// retryAfter is the parent's Retry-After header, if any.
	retryAfter string
	// token is the SHA-256 of the token a 401 refused (set by fetchAs).
	token [32]byte
}

func (p *parentStatus) Error() string {
	return fmt.Sprintf("edge: parent answered %d", p.code)
}

// maxErrorBody bounds the body of a parent's answer other than 200.
const maxErrorBody = 64 << 10

// get sends GET base+path with the client's token and reads at most limit
// bytes of body (at most maxErrorBody of an answer other than 200). With
// a call c, the body's bytes are reserved on c from the in-flight budget
// before any is read: a 200 must then carry its Content-Length (the relay
// and edges send it), so what is reserved is exactly what is held.
func (e *Edge) get(ctx context.Context, path, tok string, limit int64, c *call) (int, http.Header, []byte, error) {
	e.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.parent.String()+path, nil)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %v", ErrParent, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	// No transparent gzip: it would hide the body's length.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := e.opts.client.Do(req)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %v", ErrParent, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		limit = min(limit, maxErrorBody)
	}
	n := resp.ContentLength
	switch {
	case n > limit:
		return 0, nil, nil, fmt.Errorf("%w: %s: %d bytes", ErrTooLarge, path, n)
	case n < 0 && c != nil && resp.StatusCode == http.StatusOK:
		return 0, nil, nil, fmt.Errorf("%w: %s: answer without Content-Length", ErrParent, path)
	case n < 0:
		n = limit
	}
	if c != nil && n > 0 {
		addr, _ := ctx.Value(clientKey{}).(string)
		if err := e.reserve(ctx, addr, n); err != nil {
			return 0, nil, nil, err
		}
		c.held, c.addr = n, addr
	}
	if resp.ContentLength >= 0 {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return 0, nil, nil, fmt.Errorf("%w: read %s: %v", ErrParent, path, err)
		}
		return resp.StatusCode, resp.Header, b, nil
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("%w: read %s: %v", ErrParent, path, err)
	}
	if int64(len(b)) > limit {
		return 0, nil, nil, fmt.Errorf("%w: %s", ErrTooLarge, path)
	}
	return resp.StatusCode, resp.Header, b, nil
}

// writeFetchError answers a failed fetch.
func (e *Edge) writeFetchError(w http.ResponseWriter, err error) {
	var ps *parentStatus
	switch {
	case errors.As(err, &ps):
		switch ps.code {
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			var body api.ErrorBody
			if json.Unmarshal(ps.body, &body) != nil || body.Error == "" {
				body.Error = http.StatusText(ps.code)
			}
			if ps.code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", "Bearer")
			}
			writeError(w, ps.code, body.Error)
			return
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			// A temporary refusal (the relay busy, or a limit of the
			// client's account): the client retries after the wait,
			// where a 502 would send it to another origin at once.
			w.Header().Set("Retry-After", strconv.FormatInt(retryAfterSeconds(ps.retryAfter), 10))
			writeError(w, ps.code, fmt.Sprintf("edge: parent answered %d, retry later", ps.code))
			return
		}
		writeError(w, http.StatusBadGateway, err.Error())
	case errors.Is(err, ErrBusy):
		w.Header().Set("Retry-After", strconv.Itoa(int(busyRetry/time.Second)))
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case errors.Is(err, context.Canceled):
		// The client went away: nobody reads the answer.
	default:
		// The details (the parent's address, its connection's) are the
		// deployment's: logged, never sent to the client.
		e.opts.logger.Warn("edge: fetch from parent", "err", err)
		writeError(w, http.StatusBadGateway, fetchFailure(err).Error())
	}
}

// maxRetryAfter bounds the wait a parent's Retry-After passes on.
const maxRetryAfter = time.Hour

// retryAfterSeconds returns the wait in seconds of a parent's Retry-After
// value in delay-seconds, at most maxRetryAfter; busyRetry's for anything
// else (absent, an HTTP date, not a number).
func retryAfterSeconds(v string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 {
		return int64(busyRetry / time.Second)
	}
	return min(n, int64(maxRetryAfter/time.Second))
}

// fetchFailure returns the sentinel a failed fetch's answer names: err's
// own (ErrCorrupt, ErrTooLarge), else ErrParent.
func fetchFailure(err error) error {
	for _, s := range []error{ErrCorrupt, ErrTooLarge} {
		if errors.Is(err, s) {
			return s
		}
	}
	return ErrParent
}

// serve answers with b as the relay does (relay.serveBytes): strong ETag
// "<sha256 hex>", Cache-Control, at most relay.MaxRanges ranges, merged
// (relay.LimitRanges), Range/If-None-Match/If-Range/HEAD by
// http.ServeContent. X-Cache says HIT or MISS. The answer must be written
// within the slow-client deadline (Options.WithSlowClient), on the wall
// clock as the connection's deadlines are.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request, b []byte, k objKey, cache, xcache string) {
	// Not every ResponseWriter has deadlines (ErrNotSupported): such a
	// writer is not a client's connection.
	limit := sendtime.Limit{Grace: e.opts.sendGrace, Rate: e.opts.sendRate}
	_ = http.NewResponseController(w).SetWriteDeadline(limit.Deadline(time.Now(), len(b)))
	if err := relay.LimitRanges(r, int64(len(b))); err != nil {
		w.Header().Set("Content-Range", "bytes */"+strconv.Itoa(len(b)))
		writeError(w, http.StatusRequestedRangeNotSatisfiable, err.Error())
		return
	}
	hdr := w.Header()
	ct := "application/octet-stream"
	if k.kind == 'm' {
		ct = "application/cbor"
	}
	hdr.Set("Content-Type", ct)
	hdr.Set("ETag", `"`+hex.EncodeToString(k.hash[:])+`"`)
	hdr.Set("Cache-Control", cache)
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("X-Cache", xcache)
	http.ServeContent(&errorWriter{ResponseWriter: w, head: r.Method == http.MethodHead}, r, "", time.Time{}, bytes.NewReader(b))
}

// errorWriter gives the error answers of http.ServeContent (416, 412) the
// relay's JSON body, no-store and no ETag, as the relay does.
type errorWriter struct {
	http.ResponseWriter
	head    bool
	errCode int
	wrote   bool
}

func (w *errorWriter) WriteHeader(code int) {
	if code >= 400 {
		w.errCode = code
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "no-store")
		hdr.Del("ETag")
		hdr.Del("X-Cache")
		hdr.Del("Content-Length")
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *errorWriter) Write(p []byte) (int, error) {
	if w.errCode == 0 {
		return w.ResponseWriter.Write(p)
	}
	if !w.head && !w.wrote {
		w.wrote = true
		body, _ := json.Marshal(api.ErrorBody{Error: string(bytes.TrimSpace(p))})
		if _, err := w.ResponseWriter.Write(append(body, '\n')); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// writeError writes the relay's JSON error body with no-store.
func writeError(w http.ResponseWriter, code int, msg string) {
	body, _ := json.Marshal(api.ErrorBody{Error: msg})
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

// reserve takes n bytes of the in-flight budget for a miss of client
// addr ("": no client share), waiting at most the in-flight wait in all:
// the budget gets what is left of it after the client's share (before,
// each waited the whole wait, so a miss could wait twice it). It
// returns an error wrapping ErrBusy when no room came.
func (e *Edge) reserve(ctx context.Context, addr string, n int64) error {
	deadline := time.Now().Add(e.opts.inFlightWait)
	if addr != "" {
		if err := e.shares.TakeWithin(ctx, addr, n, e.opts.inFlightWait); err != nil {
			if errors.Is(err, bytebudget.ErrFull) {
				e.shareRefused.Add(1)
				return fmt.Errorf("%w: client %s: %w", ErrBusy, addr, err)
			}
			return err
		}
	}
	if err := e.inFlight.AcquireWithin(ctx, n, time.Until(deadline)); err != nil {
		if addr != "" {
			e.shares.Give(addr, n)
		}
		if errors.Is(err, bytebudget.ErrFull) {
			return fmt.Errorf("%w: %w", ErrBusy, err)
		}
		return err
	}
	return nil
}
