package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/strictjson"
	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store/badgerstore"
)

// Errors of request handling, mapped to HTTP statuses by the error
// handler. Every error response has the JSON body {"error": "<message>"}.
var (
	// ErrBadRequest marks malformed input: bad JSON, tier, index or hash (400).
	ErrBadRequest = errors.New("relay: bad request")
	// ErrNotFound marks a well-formed reference to nothing, such as a chunk
	// index past the last chunk (404).
	ErrNotFound = errors.New("relay: not found")
	// ErrForbidden marks an authenticated caller without the right (403).
	ErrForbidden = errors.New("relay: forbidden")
	// ErrRequestTimeout marks a request body that did not arrive within
	// the body read timeout (408).
	ErrRequestTimeout = errors.New("relay: request timeout")
	// ErrTooLarge marks a request body over the configured limit (413).
	ErrTooLarge = errors.New("relay: request body too large")
	// ErrTooManyRequests marks a caller over one of the relay's rate or
	// concurrency limits (429, with Retry-After when the error carries
	// one: RetryAfter). Limits wrap it with what they count: failed
	// logins (ErrRateLimited), a user's activity streams or updates.
	ErrTooManyRequests = errors.New("relay: too many requests")
	// ErrSignupClosed is returned by account creation without the admin
	// token when open signup is off (403).
	ErrSignupClosed = errors.New("relay: signup is closed")
	// ErrNoSubscription is returned by key requests of accounts whose
	// subscription is not active (403).
	ErrNoSubscription = errors.New("relay: no active subscription")
	// ErrStorageFull is what a client is told when the relay's disk
	// filled up under a write of its request (badgerstore.ErrNoSpace, or
	// ENOSPC or EDQUOT from a file such as an admin ingest's upload):
	// 507, nothing of the request stored; the cause, which names the
	// data directory's files, is logged and not sent.
	ErrStorageFull = errors.New("relay: storage full, nothing stored; try again later")
	// ErrStorageGone is what a client is told (503) when the relay's data
	// directory was removed or moved away while it ran
	// (badgerstore.ErrDirGone): nothing of its request was stored, and
	// no write is until the relay is restarted on its data; the cause is
	// logged.
	ErrStorageGone = errors.New("relay: storage unavailable, nothing stored")
)

// statusOf maps an error to its HTTP status and the message a client may
// see. Unexpected errors are 500 with a generic message (the cause is
// logged, never sent).
func statusOf(err error) (int, string) {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if s, ok := he.Message.(string); ok {
			msg = s
		}
		return he.Code, msg
	}
	switch {
	case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrBadCredentials):
		return http.StatusUnauthorized, err.Error()
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrSignupClosed), errors.Is(err, ErrNoSubscription),
		errors.Is(err, catalog.ErrEmbargoed):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrAccountExists), errors.Is(err, ErrDeviceTaken):
		return http.StatusConflict, err.Error()
	case errors.Is(err, ErrTooManyRequests):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, ErrStorageFull), errors.Is(err, badgerstore.ErrNoSpace), errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return http.StatusInsufficientStorage, ErrStorageFull.Error()
	case errors.Is(err, ErrStorageGone), errors.Is(err, badgerstore.ErrDirGone):
		return http.StatusServiceUnavailable, ErrStorageGone.Error()
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrTooManyRanges):
		return http.StatusRequestedRangeNotSatisfiable, err.Error()
	case errors.Is(err, ErrRequestTimeout):
		return http.StatusRequestTimeout, err.Error()
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadProof), errors.Is(err, ErrBadUsername),
		errors.Is(err, ErrBadPassword), errors.Is(err, model.ErrInvalidTier):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// ErrContended is what a client is told when a store transaction of its
// request kept conflicting with concurrent ones on the same keys until
// the store gave up (badgerstore.ErrConflict): 503 with Retry-After: 1,
// a load to shed like a full queue, not a server failure.
var ErrContended = fmt.Errorf("%w: concurrent changes to the same data", ErrBusy)

// ErrBlobStoreDown is what a client is told when the relay's external
// blob store (S3) did not answer one of its request's operations in time
// (blobstore.ErrUnavailable): 503 with Retry-After: 5. The cause, naming
// the object, is logged at warning level.
var ErrBlobStoreDown = fmt.Errorf("%w: the blob store did not answer", ErrBusy)

// errorHandler writes err as a JSON error response.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, badgerstore.ErrConflict) {
		err = RetryLater(ErrContended, time.Second)
	}
	if errors.Is(err, blobstore.ErrUnavailable) {
		s.log.WarnContext(c.Request().Context(), "request failed", "method", c.Request().Method, "route", routeOf(c), "err", err)
		err = RetryLater(ErrBlobStoreDown, 5*time.Second)
	}
	code, msg := statusOf(err)
	if d, ok := RetryAfter(err); ok {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(d/time.Second)))
	}
	if code >= 500 && code != http.StatusServiceUnavailable {
		s.log.ErrorContext(c.Request().Context(), "request failed", "method", c.Request().Method, "route", routeOf(c), "err", err)
	}
	if code == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="segue"`)
	}
	h := c.Response().Header()
	h.Del("ETag")
	h.Set("Cache-Control", "no-store")
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(code)
		return
	}
	_ = c.JSON(code, api.ErrorBody{Error: clipMessage(msg)})
}

// DecodeJSON reads the JSON request body of c, at most limit bytes, into
// v. A larger body is ErrTooLarge; malformed JSON, data after the value,
// text that is not UTF-8 (raw invalid bytes, or a \u escape of half a
// surrogate pair: encoding/json would quietly turn either into U+FFFD),
// and an object with the same key twice (compared case-insensitively, as
// encoding/json matches field names, at any depth) are ErrBadRequest; a
// body that does not arrive within the read timeout is ErrRequestTimeout.
// The relay's error handler answers 413, 400 or 408. Routes mounted on
// the relay (the license server's) decode their bodies with it too.
func DecodeJSON(c echo.Context, limit int64, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("%w: body not received in time", ErrRequestTimeout)
		}
		return fmt.Errorf("%w: read body: %v", ErrBadRequest, err)
	}
	if err := checkDuplicateKeys(b); err != nil {
		return fmt.Errorf("%w: decode json: %v", ErrBadRequest, err)
	}
	if err := strictjson.CheckUTF8(b); err != nil {
		return fmt.Errorf("%w: decode json: %v", ErrBadRequest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: decode json: %s", ErrBadRequest, strictjson.Problem(err, "the body"))
	}
	return nil
}

// jsonFrame is an open object or array while checkDuplicateKeys walks a
// document.
type jsonFrame struct {
	obj     bool
	wantKey bool // in an object: the next token is a key or '}'
	keys    map[string]struct{}
}

// checkDuplicateKeys reports the first object key that occurs twice in
// one object of the JSON document b (case-insensitively), or a syntax
// error. Data after the first value is left to json.Unmarshal.
func checkDuplicateKeys(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var stack []*jsonFrame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			top := stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				valueDone()
				if len(stack) == 0 {
					return nil
				}
				continue
			}
			k, _ := tok.(string)
			fold := strings.ToLower(k)
			if _, dup := top.keys[fold]; dup {
				return fmt.Errorf("duplicate key %s", QuoteInput(k))
			}
			top.keys[fold] = struct{}{}
			top.wantKey = false
			continue
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &jsonFrame{obj: true, wantKey: true, keys: make(map[string]struct{})})
			continue
		case json.Delim('['):
			stack = append(stack, &jsonFrame{})
			continue
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		valueDone()
		if len(stack) == 0 {
			return nil
		}
	}
}

// MaxEchoedInput is the most bytes of client input an error message
// quotes (QuoteInput); longer input is cut and marked with "…".
const MaxEchoedInput = safetext.MaxQuoted

// QuoteInput quotes client input s for an error message, at most
// MaxEchoedInput bytes of it (cut on a rune boundary): safetext.Quote.
func QuoteInput(s string) string { return safetext.Quote(s) }

// maxErrorMessage bounds the message of an error body, whatever produced
// it, so no error can echo long input.
const maxErrorMessage = 256

// clipMessage cuts msg to maxErrorMessage bytes on a rune boundary.
func clipMessage(msg string) string {
	if len(msg) <= maxErrorMessage {
		return msg
	}
	return safetext.Cut(msg, maxErrorMessage) + "…"
}
