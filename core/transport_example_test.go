package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
)

// ExampleOptions_WithDialContext counts the connections the engine opens:
// with HTTP/2 on (the default) registering and opening a track — manifest,
// key, header and chunk 0 requested at once — share one connection.
func ExampleOptions_WithDialContext() {
	relayURL, track, stop, err := exampleRelay()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	dir, _ := os.MkdirTemp("", "segue-example-engine-")
	defer os.RemoveAll(dir)

	var dials atomic.Int32
	var d net.Dialer
	ctx := context.Background()
	e, err := core.Open(ctx, dir, core.DefaultOptions().
		WithOrigins(relayURL).
		WithHTTP2(true).
		WithDialContext(func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		}).
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	if err := e.SignUp(ctx, "ada", "correct horse battery"); err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Register(ctx, "ada", "correct horse battery", "laptop"); err != nil {
		fmt.Println(err)
		return
	}
	tr, err := e.OpenTrack(ctx, track, model.TierHigh)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := tr.Chunk(ctx, 0); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("connections:", dials.Load())
	// Output: connections: 1
}
