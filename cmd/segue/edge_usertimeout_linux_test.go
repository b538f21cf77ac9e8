//go:build linux

package main

import (
	"context"
	"net"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/tcplisten"
	"github.com/segue-fm/segue/internal/tcplisten/tcplistentest"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestEdgeTCPUserTimeout: the connections `segue edge` accepts carry
// TCP_USER_TIMEOUT as --tcp-user-timeout says (30 s by default, none
// when 0), read back from the edge's own socket. Before, the edge bound
// its listener without it, so a client gone while the edge was sending
// held its connection, and its place under --max-conns, until the
// kernel's retransmissions gave up (≈ 15 min).
func TestEdgeTCPUserTimeout(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	for _, c := range []struct {
		name string
		args []string
		want time.Duration
	}{
		{"default", nil, tcplisten.DefaultUserTimeout},
		{"7s", []string{"-tcp-user-timeout", "7s"}, 7 * time.Second},
		{"off", []string{"-tcp-user-timeout", "0"}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut syncBuffer
			code := make(chan int, 1)
			args := append([]string{"edge", "-parent", r.URL, "-listen", "127.0.0.1:0", "-log-level", "warn"}, c.args...)
			go func() { code <- run(ctx, args, &out, &errOut) }()
			defer func() {
				cancel()
				if c := <-code; c != 0 {
					t.Errorf("segue edge exited %d: %s", c, errOut.String())
				}
			}()
			re := regexp.MustCompile(`edge listening on (http://\S+)`)
			var base string
			for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if m := re.FindStringSubmatch(out.String()); m != nil {
					base = m[1]
				}
			}
			if base == "" {
				t.Fatalf("segue edge did not start: %s", errOut.String())
			}
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			client, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			if got := tcplistentest.ServerUserTimeout(t, client); got != c.want {
				t.Fatalf("TCP_USER_TIMEOUT of the edge's side of a connection %v, want %v", got, c.want)
			}
		})
	}
}
