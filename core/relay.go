package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/segue-fm/segue/core/fetch"
)

// maxJSONResponse bounds every JSON answer the engine reads from a relay.
const maxJSONResponse = 1 << 20

// call sends a JSON request to the origins in order until one answers
// with 2xx, decoding the answer into out (when non-nil); see
// fetch.JSONClient.Do for when it moves to the next origin. Failures name
// the origin (*fetch.OriginError); ErrOffline is included when no origin
// answered, ErrUnauthorized when the relay rejected the credentials, and
// ErrBadResponse when no answer could be decoded. An out that implements
// headerSink also receives the answer's headers.
func (e *Engine) call(ctx context.Context, method, path string, in, out any, auth bool) error {
	if ctx.Value(noRelayKey{}) != nil {
		return fmt.Errorf("%w: %s %s not asked: no relay answered earlier", ErrOffline, method, path)
	}
	c := fetch.JSONClient{Origins: e.opts.origins, Client: e.client, Token: e.Token, MaxBody: maxJSONResponse}
	a, err := c.Do(ctx, method, path, in, out, auth)
	if err != nil {
		var se *fetch.StatusError
		switch {
		case errors.Is(err, fetch.ErrNoToken):
			return ErrNotRegistered
		case errors.As(err, &se) && se.Code == http.StatusUnauthorized:
			err = fmt.Errorf("%w: %w", ErrUnauthorized, err)
			if auth {
				e.checkRevocation()
			}
		case errors.Is(err, fetch.ErrBadAnswer):
			err = fmt.Errorf("%w: %w", ErrBadResponse, err)
		}
		if ctx.Err() == nil {
			e.log.Warn("core: relay request failed", "method", method, "path", path, "err", err)
		}
		return err
	}
	if hs, ok := out.(headerSink); ok { // answers that need headers (offline.go)
		hs.takeHeader(a.Header)
	}
	return nil
}

// noRelayKey marks a context whose relay requests fail at once
// (withoutRelay).
type noRelayKey struct{}

// withoutRelay returns ctx marked so that Engine.call fails with
// ErrOffline without asking the relay, for work that found the relay
// unreachable and goes on with what the device holds.
func withoutRelay(ctx context.Context) context.Context {
	return context.WithValue(ctx, noRelayKey{}, true)
}
