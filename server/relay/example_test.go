package relay_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/segue-fm/segue/server/relay"
)

// Run a relay on a free loopback port and ask it for /healthz.
func Example() {
	dir, err := os.MkdirTemp("", "segue-relay-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := relay.New(ctx, relay.DefaultOptions(dir).WithListen("127.0.0.1:0").WithLogger(nil))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	addr, err := srv.Start(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		fmt.Println(err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Print(resp.StatusCode, " ", string(body))
	cancel()
	fmt.Println("shutdown:", srv.Wait())
	// Output:
	// 200 {"status":"ok"}
	// shutdown: <nil>
}
