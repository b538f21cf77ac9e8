//go:build linux

package relay

import (
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/tcplisten/tcplistentest"
)

// TestTCPUserTimeout: the relay's listener (the one Start serves) gives
// every accepted connection TCP_USER_TIMEOUT as WithTCPUserTimeout says:
// DefaultTCPUserTimeout by default, none (the kernel's 0) when off, and
// out-of-range values clamped. Before, accepted connections had none, so
// a client that vanished with data in flight held its connection until
// the kernel's retransmissions gave up (≈ 15 min).
func TestTCPUserTimeout(t *testing.T) {
	for _, c := range []struct {
		name string
		opts func(Options) Options
		want time.Duration
	}{
		{"default", func(o Options) Options { return o }, DefaultTCPUserTimeout},
		{"7s", func(o Options) Options { return o.WithTCPUserTimeout(7 * time.Second) }, 7 * time.Second},
		{"off", func(o Options) Options { return o.WithTCPUserTimeout(0) }, 0},
		{"negative is off", func(o Options) Options { return o.WithTCPUserTimeout(-time.Second) }, 0},
		{"under the minimum", func(o Options) Options { return o.WithTCPUserTimeout(time.Millisecond) }, MinTCPUserTimeout},
		{"over the maximum", func(o Options) Options { return o.WithTCPUserTimeout(time.Hour) }, MaxTCPUserTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts(DefaultOptions(t.TempDir()).WithListen("127.0.0.1:0"))
			ln, err := listen(t.Context(), opts, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if got := tcplistentest.AcceptedUserTimeout(t, ln); got != c.want {
				t.Fatalf("TCP_USER_TIMEOUT of an accepted connection %v, want %v", got, c.want)
			}
		})
	}
}
