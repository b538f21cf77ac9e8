//go:build linux

package main

import (
	"net"
	"net/url"
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
			base, stop := startEdge(t, append([]string{"-parent", r.URL}, c.args...)...)
			defer stop()
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
