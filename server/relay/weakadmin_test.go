package relay_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestWeakAdminTokenRefused: a library embedder's admin token is judged
// as segue relay judges it. relay.New refuses one CheckAdminToken
// refuses (ErrWeakAdminToken, nothing opened), and a relay built over an
// open data directory with such a token admits no admin request, the
// weak token's included, so a guessable token never guards /metrics or
// a service's admin routes (AdminGate).
func TestWeakAdminTokenRefused(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name, tok string
		weak      bool
	}{
		{"short", "adm", true},
		{"one short", "abcdefghijklmnopqrstuvw", true},
		{"space", "abcdefghijkl mnopqrstuvwxyz", true},
		{"non-ASCII", "abcdefghijklmnopqrstuvwxyé", true},
		{"strong", adminToken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			srv, err := relay.New(ctx, relay.DefaultOptions(dir).WithAdminToken(tc.tok).WithLogger(quiet))
			if tc.weak {
				if !errors.Is(err, relay.ErrWeakAdminToken) {
					t.Fatalf("New: %v, want ErrWeakAdminToken", err)
				}
			} else {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				srv.Close()
			}
			dd, err := catalog.OpenDataDir(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			defer dd.Close()
			srv = relay.NewWithDataDir(dd, relay.DefaultOptions("").WithAdminToken(tc.tok).WithLogger(quiet))
			hs := httptest.NewServer(srv.Handler())
			defer hs.Close()
			for _, path := range []string{"/metrics", "/v1/svc/admin"} {
				if path == "/v1/svc/admin" {
					srv.Echo().GET(path, func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, srv.AdminGate(tc.tok))
				}
				req, _ := http.NewRequest(http.MethodGet, hs.URL+path, nil)
				req.Header.Set("Authorization", "Bearer "+tc.tok)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if admitted := res.StatusCode/100 == 2; admitted == tc.weak {
					t.Errorf("%s with the token: %d, want admitted %v", path, res.StatusCode, !tc.weak)
				}
			}
		})
	}
}
