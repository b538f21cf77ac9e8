package fetch

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/retryafter"
)

// Kind says which object of a (track, tier) stream a Request asks for.
type Kind int

// The objects an origin serves (docs/ARCHITECTURE.md §4).
const (
	KindManifest Kind = iota + 1 // the signed manifest envelope
	KindHeader                   // the encrypted header blob
	KindChunk                    // the encrypted chunk blob Index
)

// String returns "manifest", "header" or "chunk".
func (k Kind) String() string {
	switch k {
	case KindManifest:
		return "manifest"
	case KindHeader:
		return "header"
	case KindChunk:
		return "chunk"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Request names one object of a (track, tier) stream. MaxSize bounds the
// response body: an origin must fail rather than return more bytes.
type Request struct {
	Kind    Kind
	Track   model.TrackID
	Tier    model.Tier
	Index   int   // chunk index, for KindChunk only
	MaxSize int64 // upper bound on the body, > 0
	// Hash, when non-zero, is the blob's SHA-256 from the manifest: the
	// blob is then requested by hash (immutable URL, see Path).
	Hash [32]byte
}

// Path returns the request's path on a relay, relative to its base URL:
// "/v1/blobs/<sha256 hex>" for a blob whose Hash is known, else the
// positional "/v1/audio/<track>/<tier>/manifest", "…/header" or
// "…/chunks/<i>". Ids are path-escaped.
func (r Request) Path() string {
	if r.Kind != KindManifest && r.Hash != ([32]byte{}) {
		return "/v1/blobs/" + hex.EncodeToString(r.Hash[:])
	}
	base := "/v1/audio/" + url.PathEscape(string(r.Track)) + "/" + url.PathEscape(string(r.Tier))
	switch r.Kind {
	case KindManifest:
		return base + "/manifest"
	case KindHeader:
		return base + "/header"
	default:
		return base + "/chunks/" + strconv.Itoa(r.Index)
	}
}

// startsTrack reports whether r is one of the objects a track needs before
// its first audio (manifest, header, chunk 0): those are hedged.
func (r Request) startsTrack() bool {
	return r.Kind == KindManifest || r.Kind == KindHeader || (r.Kind == KindChunk && r.Index == 0)
}

// String describes the request for logs and errors.
func (r Request) String() string {
	if r.Kind == KindChunk {
		return fmt.Sprintf("%s/%s chunk %d", r.Track, r.Tier, r.Index)
	}
	return fmt.Sprintf("%s/%s %s", r.Track, r.Tier, r.Kind)
}

// Origin is one place blobs and manifests come from: a relay, a CDN edge,
// or an in-memory fake. Implementations are safe for concurrent use.
type Origin interface {
	// Name identifies the origin in errors, logs and observer events
	// (for HTTP origins, the base URL).
	Name() string
	// Fetch returns the body of r, owned by the caller. It returns an
	// error wrapping ErrTooLarge when the body exceeds r.MaxSize, a
	// *StatusError for a non-2xx answer, and ctx.Err() (possibly wrapped)
	// when ctx ends. Fetch does not verify anything: the Fetcher does.
	Fetch(ctx context.Context, r Request) ([]byte, error)
}

// StatusError is an HTTP error answer from an origin.
type StatusError struct {
	Code    int    // HTTP status code
	Message string // the relay's {"error": …} text, if any
	// Retry is the temporary refusal (429, 503) with the wait its
	// Retry-After asked for, nil for any other status; errors.Is(err,
	// api.ErrRetryLater) and api.RetryAfter see it through the chain.
	Retry *retryafter.Error
}

// Error implements error.
// A temporary refusal with a wait ends with it: "(retry in 7 s)".
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("fetch: status %d", e.Code)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Retry != nil && e.Retry.After > 0 {
		msg += fmt.Sprintf(" (retry in %d s)", retryafter.Seconds(e.Retry.After))
	}
	return msg
}

// Is makes errors.Is(err, ErrNotFound) true for a 404.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

// Unwrap returns Retry (a temporary refusal), or nil.
func (e *StatusError) Unwrap() error {
	if e.Retry == nil {
		return nil
	}
	return e.Retry
}

// HTTPOrigin fetches from a relay (or any server exposing the relay's audio
// paths) over HTTP. It is safe for concurrent use.
type HTTPOrigin struct {
	base   string
	client Doer
	token  func() string
}

// NewHTTPOrigin returns an origin for the relay at base (e.g.
// "http://127.0.0.1:7474"; a trailing slash is ignored). client sends the
// requests (an *http.Client, or any Doer); nil means DefaultDoer(). token, when non-nil, is called for every request and
// a non-empty result is sent as "Authorization: Bearer <token>".
func NewHTTPOrigin(base string, client Doer, token func() string) (*HTTPOrigin, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("fetch: origin %q: %w", base, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fetch: origin %q: %w", base, ErrBadOrigin)
	}
	return &HTTPOrigin{base: strings.TrimRight(base, "/"), client: OrDefault(client), token: token}, nil
}

// Name returns the base URL.
func (o *HTTPOrigin) Name() string { return o.base }

// Fetch implements Origin with a GET of r.Path(). The body is read only up
// to r.MaxSize+1 bytes.
func (o *HTTPOrigin) Fetch(ctx context.Context, r Request) ([]byte, error) {
	resp, err := o.get(ctx, r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return ReadBody(resp.Body, r.MaxSize)
}

// get sends the GET of r.Path() and returns a 200 response whose declared
// length does not exceed r.MaxSize; the caller closes its body. Any other
// answer is returned as an error with the body already closed.
func (o *HTTPOrigin) get(ctx context.Context, r Request) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base+r.Path(), nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if o.token != nil {
		if t := o.token(); t != "" {
			req.Header.Set("Authorization", "Bearer "+t)
		}
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, ReadStatusError(resp)
	}
	if resp.ContentLength > r.MaxSize {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, resp.ContentLength, r.MaxSize)
	}
	return resp, nil
}

// ReadBody reads all of body, failing with ErrTooLarge past max bytes. The
// returned slice is owned by the caller.
func ReadBody(body io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}

// ReadStatusError turns a non-2xx response into a *StatusError, reading at
// most 4 KiB of its body for the relay's {"error": "…"} message, and for a
// 429 or 503 its Retry-After (StatusError.Retry; an HTTP-date is read
// against the response's Date header). It does not close the body.
func ReadStatusError(resp *http.Response) *StatusError {
	e := &StatusError{Code: resp.StatusCode, Retry: retryafter.FromResponse(resp, time.Now())}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var msg api.ErrorBody
	if json.Unmarshal(b, &msg) == nil {
		e.Message = msg.Error
	}
	return e
}

// MemoryOrigin is an in-memory Origin for tests and offline fixtures: a map
// from request path to body, with injectable failures. It is safe for
// concurrent use.
type MemoryOrigin struct {
	name string

	mu    sync.Mutex
	objs  map[string][]byte
	fail  map[string]error
	count map[string]int
}

// NewMemoryOrigin returns an empty in-memory origin called name.
func NewMemoryOrigin(name string) *MemoryOrigin {
	return &MemoryOrigin{name: name, objs: map[string][]byte{}, fail: map[string]error{}, count: map[string]int{}}
}

// Name returns the name given to NewMemoryOrigin.
func (o *MemoryOrigin) Name() string { return o.name }

// Put stores a copy of body as the answer to every request with r's path.
func (o *MemoryOrigin) Put(r Request, body []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.objs[r.Path()] = append([]byte(nil), body...)
}

// Fail makes requests with r's path fail with err (nil clears it).
func (o *MemoryOrigin) Fail(r Request, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err == nil {
		delete(o.fail, r.Path())
		return
	}
	o.fail[r.Path()] = err
}

// Requests returns how many times r's path was fetched.
func (o *MemoryOrigin) Requests(r Request) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.count[r.Path()]
}

// Fetch implements Origin: a copy of the stored body, a *StatusError 404
// when none is stored, or the injected failure.
func (o *MemoryOrigin) Fetch(ctx context.Context, r Request) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p := r.Path()
	o.count[p]++
	if err := o.fail[p]; err != nil {
		return nil, err
	}
	b, ok := o.objs[p]
	if !ok {
		return nil, &StatusError{Code: http.StatusNotFound, Message: "not found"}
	}
	if int64(len(b)) > r.MaxSize {
		return nil, fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, len(b), r.MaxSize)
	}
	return append([]byte(nil), b...), nil
}

var (
	_ Origin = (*HTTPOrigin)(nil)
	_ Origin = (*MemoryOrigin)(nil)
)

// errorsIsAny reports whether err matches any target.
func errorsIsAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}
