package relay_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestMaxInFlight: with the relay's in-flight cap taken by requests still
// running, the next request of any route is answered 503 with
// Retry-After before its handler runs, while /healthz and a long-lived
// route are not counted; once the running requests end, requests are
// served again.
func TestMaxInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	block := func(c echo.Context) error {
		entered <- struct{}{}
		<-release
		return c.NoContent(http.StatusNoContent)
	}
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithRelayOptions(func(o relay.Options) relay.Options { return o.WithMaxInFlight(2) }).
				WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
					srv.Mount(func(v1 *relay.DeviceRoutes) {
						v1.GET("/test/block", block)
						v1.GET("/test/stream", block)
					})
					srv.LongLived("/v1/test/stream")
				})
		})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if res := e.do(t, "GET", "/v1/test/block", nil, e.token); res.code != http.StatusNoContent {
				t.Errorf("blocked request: %d %s", res.code, res.body)
			}
		})
		<-entered
	}
	// The long-lived route is not counted: it runs past the cap.
	wg.Go(func() {
		if res := e.do(t, "GET", "/v1/test/stream", nil, e.token); res.code != http.StatusNoContent {
			t.Errorf("long-lived request: %d %s", res.code, res.body)
		}
	})
	<-entered
	if n := e.srv.InFlight(); n != 2 {
		t.Fatalf("InFlight() = %d, want 2", n)
	}
	for _, path := range []string{"/v1/me", "/v1/test/block", "/v1/accounts"} {
		res := e.do(t, "GET", path, nil, e.token)
		if res.code != http.StatusServiceUnavailable || res.header.Get("Retry-After") != "1" {
			t.Fatalf("%s over the cap: %d Retry-After %q %s, want 503 and 1", path, res.code, res.header.Get("Retry-After"), res.body)
		}
	}
	if res := e.do(t, "GET", "/healthz", nil, ""); res.code != http.StatusOK {
		t.Fatalf("/healthz over the cap: %d", res.code)
	}
	close(release)
	wg.Wait()
	if n := e.srv.InFlight(); n != 0 {
		t.Fatalf("InFlight() after the requests ended = %d, want 0", n)
	}
	if res := e.do(t, "GET", "/v1/me", nil, e.token); res.code != http.StatusOK {
		t.Fatalf("/v1/me after the requests ended: %d %s", res.code, res.body)
	}
}
