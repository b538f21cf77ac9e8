package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// ErrBadAnswer is returned (wrapped in an *OriginError) for a 2xx relay
// answer whose JSON body cannot be decoded.
var ErrBadAnswer = errors.New("fetch: bad relay answer")

// ErrNoToken is returned by JSONClient.Do for an authenticated request
// when the device has no token (it is not registered).
var ErrNoToken = errors.New("fetch: no device token")

// JSONClient sends JSON requests to a relay's API, trying its origins in
// order. It is the one request path of the engine's API calls (core) and
// of the downloads' license calls (core/download). It is safe for
// concurrent use when its fields are not changed.
type JSONClient struct {
	// Origins are the relay base URLs, first preferred.
	Origins []string
	// Client sends the requests (an *http.Client, or any Doer); nil
	// means DefaultDoer().
	Client Doer
	// Token returns the device token sent as a bearer token on
	// authenticated requests; "" (or a nil Token) means not registered.
	Token func() string
	// MaxBody bounds an answer's body in bytes.
	MaxBody int64
}

// JSONAnswer is one relay answer. Body is owned by the caller.
type JSONAnswer struct {
	Origin string
	Code   int
	Header http.Header
	Body   []byte
}

// Do sends method path with in (JSON-encoded when non-nil) to each origin
// in order until one answers, and decodes a 2xx body into out when out is
// non-nil.
//
// A network error, a 5xx, an unreadable or oversized body, or (with out)
// a body that does not decode moves on to the next origin. Any other
// status is the relay's answer and ends the loop: Do returns that answer
// (its header too, for signed statements on refusals) with an
// *OriginError wrapping the *StatusError. When no origin answered at all,
// the error matches ErrOffline; every failure names its origin.
func (c *JSONClient) Do(ctx context.Context, method, path string, in, out any, auth bool) (JSONAnswer, error) {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return JSONAnswer{}, fmt.Errorf("encode %s: %w", path, err)
		}
	}
	token := ""
	if auth {
		if c.Token != nil {
			token = c.Token()
		}
		if token == "" {
			return JSONAnswer{}, ErrNoToken
		}
	}
	var errs []error
	answered := false
	for _, base := range c.Origins {
		a, err := c.one(ctx, base, method, path, body, out, token)
		if err == nil {
			return a, nil
		}
		oe := &OriginError{Origin: base, Err: err}
		var se *StatusError
		isStatus := errors.As(err, &se)
		if isStatus && se.Code < 500 {
			// The relay's answer stands even when ctx ended as it
			// arrived: a signed refusal (a revocation) is acted on.
			return a, fmt.Errorf("%s %s: %w", method, path, oe)
		}
		if ctx.Err() != nil {
			return JSONAnswer{}, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		answered = answered || isStatus || errors.Is(err, ErrBadAnswer) || errors.Is(err, ErrTooLarge)
		errs = append(errs, oe)
	}
	if !answered {
		errs = append([]error{ErrOffline}, errs...)
	}
	return JSONAnswer{}, fmt.Errorf("%s %s: %w", method, path, errors.Join(errs...))
}

// one sends the request to one origin.
func (c *JSONClient) one(ctx context.Context, base, method, path string, body []byte, out any, token string) (JSONAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
	if err != nil {
		return JSONAnswer{}, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := OrDefault(c.Client).Do(req)
	if err != nil {
		return JSONAnswer{}, err
	}
	defer resp.Body.Close()
	a := JSONAnswer{Origin: base, Code: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return a, ReadStatusError(resp)
	}
	if a.Body, err = ReadBody(resp.Body, c.MaxBody); err != nil {
		return JSONAnswer{}, err
	}
	if out != nil {
		if err := json.Unmarshal(a.Body, out); err != nil {
			return JSONAnswer{}, fmt.Errorf("%w: decode answer: %w", ErrBadAnswer, err)
		}
	}
	return a, nil
}
