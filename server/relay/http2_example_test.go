package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/segue-fm/segue/server/relay"
)

// The plain listener also speaks cleartext HTTP/2 with prior knowledge
// (h2c), so a client can multiplex all its requests on one connection.
func ExampleServer_Start_http2() {
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
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &h2c}}
	resp, err := client.Get("http://" + addr + "/healthz")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Proto, resp.StatusCode)
	cancel()
	srv.Wait()
	// Output: HTTP/2.0 200
}
