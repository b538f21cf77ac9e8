// Package tcplisten binds the TCP listeners of Segue's servers (the relay,
// the edge) with TCP_USER_TIMEOUT set on the listening socket, which every
// accepted connection inherits: a client that vanished while the server
// was sending to it (lid shut, network gone, no FIN) frees its connection
// after the timeout instead of after the kernel's retransmissions give up
// (about 15 minutes).
//
//	ln, err := tcplisten.Listen(ctx, "127.0.0.1:8080", tcplisten.DefaultUserTimeout, slog.Default())
package tcplisten

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Default and bounds of a server's user timeout (segue relay and segue
// edge --tcp-user-timeout), 0 (off) aside: under a second a congested but
// live client is cut by a burst of loss; over ten minutes a vanished one
// holds its connection almost as long as without it.
const (
	DefaultUserTimeout = 30 * time.Second
	MinUserTimeout     = time.Second
	MaxUserTimeout     = 10 * time.Minute
)

// Clamp is the user timeout a server uses for d: 0 (off) for d ≤ 0, else
// d clamped to MinUserTimeout…MaxUserTimeout.
func Clamp(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return min(max(d, MinUserTimeout), MaxUserTimeout)
}

// Listen binds addr over TCP. With userTimeout > 0 and
// UserTimeoutSupported, TCP_USER_TIMEOUT is set to it (rounded down to
// whole milliseconds) on the listening socket, so every accepted
// connection has it: sent data unacknowledged for that long closes the
// connection, and so do keepalive probes unanswered for that long, while
// a live client's acknowledgements (zero-window probes included) keep it.
// userTimeout ≤ 0 leaves the kernel's default (none). Where it is not
// supported (only Linux has it), a userTimeout > 0 is logged to log (at
// Info) and ignored. The caller owns the returned listener.
func Listen(ctx context.Context, addr string, userTimeout time.Duration, log *slog.Logger) (net.Listener, error) {
	var lc net.ListenConfig
	switch {
	case userTimeout > 0 && userTimeoutSupported:
		lc.Control = setUserTimeout(userTimeout)
	case userTimeout > 0:
		log.Info("TCP_USER_TIMEOUT is not supported on this platform; --tcp-user-timeout does nothing, vanished clients are closed by keepalive only", "addr", addr, "timeout", userTimeout)
	}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}
