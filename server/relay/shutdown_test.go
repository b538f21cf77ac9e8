package relay_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/server/relay"
)

// TestMountAndGracefulShutdown mounts an authenticated route that blocks,
// cancels the serving context while a request is in flight, and checks the
// request still completes, Wait returns nil and the port stops accepting.
func TestMountAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	publishSynthetic(t, dir, 1, 100)
	srv, err := relay.New(context.Background(), relay.DefaultOptions(dir).WithListen("127.0.0.1:0").
		WithArgonParams(relay.FastArgonParams).WithLogger(nil).WithShutdownTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	srv.Mount(func(v1 *relay.DeviceRoutes) {
		v1.GET("/slow", func(c echo.Context) error {
			dev, ok := relay.DeviceFrom(c)
			if !ok {
				return c.String(500, "no device")
			}
			close(entered)
			<-release
			return c.String(200, string(dev.ID))
		})
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	e := &env{base: "http://" + addr, clock: &fakeClock{t: time.Now()}}
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "ada", "password": "correct horse"}, ""); res.code != 201 {
		t.Fatalf("sign up: %d", res.code)
	}
	id := newIdentity(t)
	res := e.do(t, "POST", "/v1/devices", e.registration("ada", "correct horse", id, time.Now()), "")
	var reg struct {
		Token string `json:"token"`
	}
	res.json(t, &reg)
	if res := e.do(t, "GET", "/v1/slow", nil, ""); res.code != 401 {
		t.Fatalf("mounted route without token: %d", res.code)
	}

	type result struct {
		code int
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("GET", e.base+"/v1/slow", nil)
		req.Header.Set("Authorization", "Bearer "+reg.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- result{resp.StatusCode, string(b), err}
	}()
	<-entered
	cancel()
	waited := make(chan error, 1)
	go func() { waited <- srv.Wait() }()
	select {
	case err := <-waited:
		t.Fatalf("Wait returned %v with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	r := <-done
	if r.err != nil || r.code != 200 || r.body != string(id.DeviceID()) {
		t.Fatalf("in-flight request: %+v", r)
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if _, err := http.Get(e.base + "/healthz"); err == nil {
		t.Fatal("relay still accepts connections after shutdown")
	}
}

// TestWaitWaitsForShutdownHooks: a hook registered with OnShutdown that
// is still flushing when the HTTP server has stopped (the social
// service's activity writer, for one) has returned before Wait does, so
// a caller closing the store after Wait never cuts the flush short.
func TestWaitWaitsForShutdownHooks(t *testing.T) {
	dir := t.TempDir()
	publishSynthetic(t, dir, 1, 100)
	srv, err := relay.New(context.Background(), relay.DefaultOptions(dir).WithListen("127.0.0.1:0").
		WithArgonParams(relay.FastArgonParams).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var flushed atomic.Bool
	srv.OnShutdown(func() {
		if flushed.Load() {
			return // Close's second call
		}
		time.Sleep(200 * time.Millisecond)
		flushed.Store(true)
	})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := srv.Wait(); err != nil {
		t.Fatal(err)
	}
	if !flushed.Load() {
		t.Fatal("Wait returned before the shutdown hook finished")
	}
}

// TestShutdownGraceOver: a request still running when the shutdown grace
// period ends makes Wait return ErrShutdownTimeout, naming the grace
// period and the requests cut off. Before, it returned the bare
// "context deadline exceeded", and segue relay stopped by SIGTERM during
// a long admin ingest exited 1 with only those words.
func TestShutdownGraceOver(t *testing.T) {
	dir := t.TempDir()
	publishSynthetic(t, dir, 1, 100)
	srv, err := relay.New(context.Background(), relay.DefaultOptions(dir).WithListen("127.0.0.1:0").
		WithArgonParams(relay.FastArgonParams).WithLogger(nil).WithShutdownTimeout(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv.Echo().GET("/slow", func(c echo.Context) error {
		close(entered)
		<-release
		return c.String(http.StatusOK, "late")
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := srv.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if res, err := http.Get("http://" + addr + "/slow"); err == nil {
			res.Body.Close()
		}
	}()
	<-entered
	cancel()
	err = srv.Wait()
	if !errors.Is(err, relay.ErrShutdownTimeout) || !strings.Contains(err.Error(), "1 request still running after 50ms") {
		t.Fatalf("Wait: %v, want ErrShutdownTimeout naming 1 request and 50ms", err)
	}
}
