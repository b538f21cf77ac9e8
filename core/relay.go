package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/segue-fm/segue/core/fetch"
)

// maxJSONResponse bounds every JSON answer the engine reads from a relay.
const maxJSONResponse = 1 << 20

// call sends a JSON request to the origins in order until one answers
// with 2xx, decoding the answer into out (when non-nil); see
// fetch.JSONClient.Do for when it moves to the next origin. Failures name
// the origin (*fetch.OriginError); ErrOffline is included when no origin
// answered, ErrUnauthorized when the relay rejected the credentials, and
// ErrBadResponse when no answer could be decoded (fetch.ErrTooLarge
// too, past maxJSONResponse), or when a call with
// out noContent (a Segue relay answers it 204 No Content) was answered
// otherwise: a server that is not a Segue relay (a web server answering
// 200 with a page to everything) must not make the call look done. An
// out that implements headerSink also receives the answer's headers.
func (e *Engine) call(ctx context.Context, method, path string, in, out any, auth bool) error {
	if ctx.Value(noRelayKey{}) != nil {
		return fmt.Errorf("%w: %s %s not asked: no relay answered earlier", ErrOffline, method, path)
	}
	_, want204 := out.(noContentAnswer)
	if want204 {
		out = nil
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
		case errors.Is(err, fetch.ErrBadAnswer), errors.Is(err, fetch.ErrTooLarge):
			// A Segue relay answers these calls within maxJSONResponse:
			// a bigger answer is as suspect as an undecodable one.
			err = fmt.Errorf("%w %s: %w", ErrBadResponse, notRelayHint(e.opts.origins), err)
		}
		if ctx.Err() == nil {
			e.log.Warn("core: relay request failed", "method", method, "path", path, "err", err)
		}
		return err
	}
	if want204 && a.Code != http.StatusNoContent {
		err := fmt.Errorf("%w %s: %s %s: origin %s answered %d (%s), not 204 No Content",
			ErrBadResponse, notRelayHint([]string{a.Origin}), method, path, a.Origin, a.Code, contentType(a.Header))
		e.log.Warn("core: relay request failed", "method", method, "path", path, "err", err)
		return err
	}
	if hs, ok := out.(headerSink); ok { // answers that need headers (offline.go)
		hs.takeHeader(a.Header)
	}
	return nil
}

// noContentAnswer is the type of noContent.
type noContentAnswer struct{}

// noContent is the out of a call whose answer is 204 No Content and
// nothing else.
var noContent = noContentAnswer{}

// notRelayHint is the part of an ErrBadResponse error that says the
// answer may not come from a Segue relay at all (a --relay URL naming
// some other web server).
func notRelayHint(origins []string) string {
	return "(is " + strings.Join(origins, ", ") + " a Segue relay?)"
}

// contentType is an answer's Content-Type for an error message.
func contentType(h http.Header) string {
	if ct := h.Get("Content-Type"); ct != "" {
		return ct
	}
	return "no content type"
}

// badAnswer returns an ErrBadResponse error for a decoded answer that
// lacks what every Segue relay's answer holds.
func (e *Engine) badAnswer(format string, args ...any) error {
	return fmt.Errorf("%w %s: %s", ErrBadResponse, notRelayHint(e.opts.origins), fmt.Sprintf(format, args...))
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
