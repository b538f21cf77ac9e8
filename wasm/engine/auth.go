package engine

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/segue-fm/segue/core/fetch"
)

// ErrUnauthorized is returned when the relay refuses the device token
// (expired after the relay's token lifetime, or the device was removed).
// As on native (core.ErrUnauthorized) the cure is to sign in again:
// Login registers the same device (same id and keys) and keeps the new
// token. Downloads keep playing meanwhile: offline licences are renewed
// with the device's signature, not the token.
var ErrUnauthorized = errors.New("engine: the relay refused this device's token (expired or revoked): sign in again")

// OnUnauthorized sets fn to be called once per refused token, when a
// relay call is answered 401 (nil removes it). The page shows its
// sign-in form then. fn runs on the calling goroutine and must not block.
func (e *Engine) OnUnauthorized(fn func()) {
	e.mu.Lock()
	e.onUnauth = fn
	e.mu.Unlock()
}

// unauthorized marks err with ErrUnauthorized when the relay answered
// 401, and tells the OnUnauthorized listener once for this token.
func (e *Engine) unauthorized(err error) error {
	var se *fetch.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || errors.Is(err, ErrUnauthorized) {
		return err
	}
	e.mu.Lock()
	fn, first := e.onUnauth, e.refused != e.token
	e.refused = e.token
	e.mu.Unlock()
	if fn != nil && first {
		fn()
	}
	return fmt.Errorf("%w: %w", ErrUnauthorized, err)
}
