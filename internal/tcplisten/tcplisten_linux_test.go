//go:build linux

package tcplisten_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/tcplisten"
	"github.com/segue-fm/segue/internal/tcplisten/tcplistentest"
)

// TestListenUserTimeout: every connection accepted from Listen's
// listener has the TCP_USER_TIMEOUT Listen was given (whole
// milliseconds), and none (the kernel's 0) when it was given 0 or less.
func TestListenUserTimeout(t *testing.T) {
	for _, c := range []struct {
		in, want time.Duration
	}{
		{tcplisten.DefaultUserTimeout, tcplisten.DefaultUserTimeout},
		{7 * time.Second, 7 * time.Second},
		{1500*time.Millisecond + 700*time.Microsecond, 1500 * time.Millisecond},
		{0, 0},
		{-time.Second, 0},
	} {
		t.Run(c.in.String(), func(t *testing.T) {
			ln, err := tcplisten.Listen(t.Context(), "127.0.0.1:0", c.in, slog.New(slog.DiscardHandler))
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

// TestListenRefusesBusyAddress: an address already bound is an error
// naming the listen, not a listener.
func TestListenRefusesBusyAddress(t *testing.T) {
	ln, err := tcplisten.Listen(t.Context(), "127.0.0.1:0", tcplisten.DefaultUserTimeout, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if again, err := tcplisten.Listen(t.Context(), ln.Addr().String(), tcplisten.DefaultUserTimeout, slog.New(slog.DiscardHandler)); err == nil {
		again.Close()
		t.Fatal("a second listener on a bound address")
	}
}
