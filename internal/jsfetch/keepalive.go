package jsfetch

import (
	"context"
	"errors"
)

// KeepaliveMax is the most body bytes a keepalive request may carry:
// browsers refuse a keepalive fetch once the bodies of the page's
// keepalive requests in flight pass 64 KiB.
const KeepaliveMax = 64 << 10

// ErrKeepaliveBody is returned by Client.Do for a keepalive request
// (WithKeepalive) whose body is over KeepaliveMax; nothing is sent.
var ErrKeepaliveBody = errors.New("jsfetch: keepalive request body over 64 KiB")

type keepaliveKey struct{}

// WithKeepalive returns ctx marked so that Client.Do sends the requests
// made with it with fetch's keepalive: such a request is completed by
// the browser even when the page is closed meanwhile (its answer is then
// lost). It builds for every GOOS, so code that builds natively too can
// mark its requests.
func WithKeepalive(ctx context.Context) context.Context {
	return context.WithValue(ctx, keepaliveKey{}, true)
}

// Keepalive reports whether ctx was marked by WithKeepalive.
func Keepalive(ctx context.Context) bool {
	on, _ := ctx.Value(keepaliveKey{}).(bool)
	return on
}
