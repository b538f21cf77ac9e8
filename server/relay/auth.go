package relay

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// ctxSession is the echo.Context key under which Auth stores the
// request's *session (its device and the token's expiry).
const ctxSession = "segue.relay.session"

// bearer returns the token of an "Authorization: Bearer <token>" header;
// false when there is none or more than one (checkAuthorization).
func bearer(r *http.Request) (string, bool) {
	if checkAuthorization(r.Header) != nil {
		return "", false
	}
	h := r.Header.Get("Authorization")
	const p = "Bearer "
	if len(h) <= len(p) || !strings.EqualFold(h[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(h[len(p):]), true
}

// MinAdminTokenLen is the shortest admin token (WithAdminToken) that
// CheckAdminToken accepts: 24 characters. NewAdminToken makes 43 (32
// random bytes); so does "head -c 24 /dev/urandom | base64" (32).
const MinAdminTokenLen = 24

// ErrWeakAdminToken is returned by CheckAdminToken for an admin token
// shorter than MinAdminTokenLen or holding a character a bearer header
// cannot carry as it is.
var ErrWeakAdminToken = errors.New("relay: weak admin token")

// CheckAdminToken returns nil for an admin token the relay should accept:
// empty (no admin: every admin route refused) or at least
// MinAdminTokenLen printable ASCII characters without spaces. Anything
// else wraps ErrWeakAdminToken: a short token can be guessed (the relay
// slows guesses per address, not across many), and one with spaces,
// control or non-ASCII characters never matches the trimmed header.
func CheckAdminToken(tok string) error {
	if tok == "" {
		return nil
	}
	if len(tok) < MinAdminTokenLen {
		return fmt.Errorf("%w: %d characters, want at least %d (e.g. 32 random bytes in base64)", ErrWeakAdminToken, len(tok), MinAdminTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("%w: byte %d is not printable ASCII (want no spaces, control or non-ASCII characters)", ErrWeakAdminToken, i+1)
		}
	}
	return nil
}

// NewAdminToken returns a fresh admin token: 32 random bytes,
// base64url without padding (43 characters).
func NewAdminToken() string {
	var raw [32]byte
	rand.Read(raw[:])
	return base64.RawURLEncoding.EncodeToString(raw[:])
}

// MaxTokenLen is the longest device token the relay accepts; a longer
// one is refused (401) without a store read. The edge refuses it too,
// without asking its parent.
const MaxTokenLen = 128

// BearerToken returns the token of r's "Authorization: Bearer <token>"
// header as the relay reads it (the scheme in any case, the token
// trimmed); false without one, or with more than one Authorization
// header. The edge (server/edge) reads it the same.
func BearerToken(r *http.Request) (string, bool) {
	tok, ok := bearer(r)
	return tok, ok && tok != ""
}

// BearerIs reports whether r carries "Authorization: Bearer <token>" for
// exactly token, compared in constant time. An empty token never matches,
// so an unset admin token refuses everyone.
func BearerIs(r *http.Request, token string) bool {
	tok, ok := bearer(r)
	return ok && token != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(token)) == 1
}

// syncPath is the route of the sync WebSocket (mountSync registers
// "/sync" under /v1).
const syncPath = "/v1/sync"

// queryTokenAllowed reports whether Auth takes the device token from the
// "token" query parameter on the route path: only where browsers cannot
// send an Authorization header, the sync WebSocket and the LongLived
// routes (activity streams, which EventSource reads). Elsewhere a token
// in the URL would end up in browser history, Referer headers and the
// logs of proxies, so it is refused as if absent.
func (s *Server) queryTokenAllowed(path string) bool {
	return path == syncPath || s.longLived[path]
}

// Auth returns the device-token middleware. It accepts the token from
// "Authorization: Bearer <token>" or, on the sync WebSocket and the
// LongLived routes, which browsers open without headers, from the
// "token" query parameter; the header wins when both are present. On
// success the Device is available to the
// handler through DeviceFrom, and the answer carries Cache-Control
// CachePrivate and X-Content-Type-Options nosniff unless the handler
// sets its own; otherwise the request ends with 401.
func (s *Server) Auth() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			tok, ok := bearer(c.Request())
			if !ok && s.queryTokenAllowed(c.Path()) {
				tok = c.QueryParam("token")
			}
			if tok == "" {
				return ErrUnauthorized
			}
			sess, err := s.acc.authenticate(c.Request().Context(), tok)
			if err != nil {
				return err
			}
			c.Set(ctxSession, sess)
			h := c.Response().Header()
			h.Set("Cache-Control", CachePrivate)
			h.Set("X-Content-Type-Options", "nosniff")
			return next(c)
		}
	}
}

// DeviceFrom returns the authenticated device of a request that passed
// the Auth middleware, and false for any other request. The Device's
// slices are shared with other readers of the request: do not modify them.
func DeviceFrom(c echo.Context) (Device, bool) {
	s, ok := c.Get(ctxSession).(*session)
	if !ok {
		return Device{}, false
	}
	return s.Device, true
}

// TokenExpiry returns when the token of a request that passed the Auth
// middleware expires, on the relay's clock (the zero time for any other
// request): a long-lived answer (an event stream) ends then.
func TokenExpiry(c echo.Context) time.Time {
	if s, ok := c.Get(ctxSession).(*session); ok {
		return s.Expires
	}
	return time.Time{}
}
