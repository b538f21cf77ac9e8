package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
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
	// ErrTooLarge marks a request body over the configured limit (413).
	ErrTooLarge = errors.New("relay: request body too large")
	// ErrSignupClosed is returned by account creation without the admin
	// token when open signup is off (403).
	ErrSignupClosed = errors.New("relay: signup is closed")
	// ErrNoSubscription is returned by key requests of accounts whose
	// subscription is not active (403).
	ErrNoSubscription = errors.New("relay: no active subscription")
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
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrSignupClosed), errors.Is(err, ErrNoSubscription):
		return http.StatusForbidden, err.Error()
	case errors.Is(err, ErrNotFound), errors.Is(err, catalog.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrAccountExists), errors.Is(err, ErrDeviceTaken):
		return http.StatusConflict, err.Error()
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests, err.Error()
	case errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable, err.Error()
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadProof), errors.Is(err, ErrBadUsername),
		errors.Is(err, ErrBadPassword), errors.Is(err, model.ErrInvalidTier):
		return http.StatusBadRequest, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// errorHandler writes err as a JSON error response.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
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
	_ = c.JSON(code, api.ErrorBody{Error: msg})
}

// DecodeJSON reads the JSON request body of c, at most limit bytes, into
// v. A larger body is ErrTooLarge, malformed JSON ErrBadRequest, so the
// relay's error handler answers 413 or 400. Routes mounted on the relay
// (the license server's) decode their bodies with it too.
func DecodeJSON(c echo.Context, limit int64, v any) error {
	r := http.MaxBytesReader(c.Response(), c.Request().Body, limit)
	dec := json.NewDecoder(r)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("%w: limit is %d bytes", ErrTooLarge, limit)
		}
		return fmt.Errorf("%w: decode json: %v", ErrBadRequest, err)
	}
	return nil
}
