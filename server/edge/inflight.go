package edge

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"sync"
	"time"
)

// busyRetry is the Retry-After of a miss refused by the in-flight budget.
const busyRetry = time.Second

// call is one fetch from the parent and the requests that share it. The
// body's reservation (held) is released when the last holder lets go:
// the fetch itself, and each request until it has written its answer.
type call struct {
	done chan struct{}
	body []byte
	err  error
	held int64  // bytes reserved; written by the fetch before done closes
	addr string // the client address held is charged to (Edge.shares), if any
	refs int    // guarded by flights.mu
}

// flights coalesces concurrent fetches of one object (as singleflight,
// but counting who still holds the body).
type flights struct {
	mu sync.Mutex
	m  map[string]*call
}

// fetchFunc fetches an object with tok, reserving its body's bytes on c.
type fetchFunc func(ctx context.Context, tok string, c *call) ([]byte, error)

// fetchOnce runs fetch with the caller's token tok for key at most once
// at a time: concurrent callers for the same key share the leader's
// result. The fetch runs on a context detached from the leader's request
// (bounded by the origin timeout), so a leader that goes away does not
// fail the others; each caller stops waiting when its own ctx ends. On
// success the caller must call release once it no longer reads the body
// (the body's bytes count against the in-flight budget until then).
//
// A parent's 401 is the leader's token's, not the others': the token is
// refused at once (fetchAs), and a caller with another token fetches
// again with its own instead of answering 401 for a token that works.
func (e *Edge) fetchOnce(ctx context.Context, key, tok string, fetch fetchFunc) (body []byte, release func(), err error) {
	e.calls.mu.Lock()
	c, ok := e.calls.m[key]
	if !ok {
		c = &call{done: make(chan struct{}), refs: 1}
		e.calls.m[key] = c
		go e.run(context.WithoutCancel(ctx), key, tok, c, fetch)
	}
	c.refs++
	e.calls.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		e.unref(c)
		return nil, nil, ctx.Err()
	}
	var ps *parentStatus
	if errors.As(c.err, &ps) && ps.code == http.StatusUnauthorized && ps.token != sha256.Sum256([]byte(tok)) {
		e.unref(c)
		c = &call{done: make(chan struct{}), refs: 2}
		e.run(ctx, "", tok, c, fetch)
	}
	if c.err != nil {
		e.unref(c)
		return nil, nil, c.err
	}
	return c.body, func() { e.unref(c) }, nil
}

// run performs c's fetch, bounded by the origin timeout, publishes its
// result and lets go of the fetch's own hold on it. An empty key is a
// fetch no other request joins.
func (e *Edge) run(ctx context.Context, key, tok string, c *call, fetch fetchFunc) {
	fctx, cancel := context.WithTimeout(ctx, e.opts.originTimeout)
	defer cancel()
	c.body, c.err = e.fetchAs(fctx, tok, func(ctx context.Context, tok string) ([]byte, error) {
		return fetch(ctx, tok, c)
	})
	if key != "" {
		e.calls.mu.Lock()
		delete(e.calls.m, key)
		e.calls.mu.Unlock()
	}
	close(c.done)
	e.unref(c)
}

// unref lets go of one hold on c; the last one releases its bytes.
func (e *Edge) unref(c *call) {
	e.calls.mu.Lock()
	c.refs--
	last := c.refs == 0
	e.calls.mu.Unlock()
	if last && c.held > 0 {
		e.inFlight.Release(c.held)
		if c.addr != "" {
			e.shares.Give(c.addr, c.held)
		}
	}
}

// clientKey is the request-context key of the client's address
// (relay.ClientAddr), which a miss's fetch is charged to.
type clientKey struct{}
