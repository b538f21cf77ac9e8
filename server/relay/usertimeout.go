package relay

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/segue-fm/segue/internal/tcplisten"
)

// Default and bounds of WithTCPUserTimeout (and segue relay
// --tcp-user-timeout), 0 aside: tcplisten's, shared with segue edge.
const (
	DefaultTCPUserTimeout = tcplisten.DefaultUserTimeout
	MinTCPUserTimeout     = tcplisten.MinUserTimeout
	MaxTCPUserTimeout     = tcplisten.MaxUserTimeout
)

// WithTCPUserTimeout sets TCP_USER_TIMEOUT on the relay's accepted
// connections (Linux): a connection whose sent data stays unacknowledged
// for d is closed by the kernel, so a client that vanished with data in
// flight (lid shut, network gone, no FIN) frees its connection, its
// place under WithMaxConns and its session's memory after d instead of
// after the kernel's retransmissions give up (about 15 minutes). It also
// bounds TCP keepalive: an idle connection whose keepalive probes stay
// unanswered for d is closed. A live client's acknowledgements, zero
// window probes included, keep its connection. 0 turns it off (the
// kernel's default); other values are clamped to
// MinTCPUserTimeout…MaxTCPUserTimeout. On other platforms it does
// nothing, and Start logs so. Default DefaultTCPUserTimeout, 30 s.
func (o Options) WithTCPUserTimeout(d time.Duration) Options {
	o.userTimeout = tcplisten.Clamp(d)
	return o
}

// listen binds opts' listen address over TCP, with TCP_USER_TIMEOUT
// (WithTCPUserTimeout) set on the listening socket, which every accepted
// connection inherits.
func listen(ctx context.Context, opts Options, log *slog.Logger) (net.Listener, error) {
	return tcplisten.Listen(ctx, opts.listen, opts.userTimeout, log)
}
