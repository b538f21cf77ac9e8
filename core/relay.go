package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/segue-fm/segue/core/fetch"
)

// maxJSONResponse bounds every JSON answer the engine reads from a relay.
const maxJSONResponse = 1 << 20

// call sends a JSON request to the origins in order until one answers
// with 2xx, decoding the answer into out (when non-nil). It moves to the
// next origin on a network error or a 5xx; any other status is the
// relay's answer and ends the loop. Failures name the origin
// (*fetch.OriginError); ErrOffline is included when no origin answered.
func (e *Engine) call(ctx context.Context, method, path string, in, out any, auth bool) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
	}
	token := ""
	if auth {
		token = e.Token()
		if token == "" {
			return ErrNotRegistered
		}
	}
	var errs []error
	answered := false
	for _, base := range e.opts.origins {
		err := e.callOne(ctx, base, method, path, body, out, token)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		var se *fetch.StatusError
		isStatus := errors.As(err, &se)
		answered = answered || isStatus || errors.Is(err, ErrBadResponse) || errors.Is(err, fetch.ErrTooLarge)
		oe := &fetch.OriginError{Origin: base, Err: err}
		e.log.Warn("core: relay request failed", "origin", base, "method", method, "path", path, "err", err)
		if isStatus && se.Code < 500 {
			if se.Code == http.StatusUnauthorized {
				return fmt.Errorf("%s %s: %w: %w", method, path, ErrUnauthorized, oe)
			}
			return fmt.Errorf("%s %s: %w", method, path, oe)
		}
		errs = append(errs, oe)
	}
	if !answered {
		errs = append([]error{fetch.ErrOffline}, errs...)
	}
	return fmt.Errorf("%s %s: %w", method, path, errors.Join(errs...))
}

func (e *Engine) callOne(ctx context.Context, base, method, path string, body []byte, out any, token string) error {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fetch.ReadStatusError(resp)
	}
	if out == nil {
		return nil
	}
	b, err := fetch.ReadBody(resp.Body, maxJSONResponse)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: decode answer: %w", ErrBadResponse, err)
	}
	if hs, ok := out.(headerSink); ok { // answers that need headers (offline.go)
		hs.takeHeader(resp.Header)
	}
	return nil
}
