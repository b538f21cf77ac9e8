package relay_test

import (
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// TestWrongMethod: on the relay's own routes, a route added with Mount
// and the admin ingest route, a known path asked with another method is
// 405 with an Allow header, whatever token the request carries (device,
// admin or none); an unknown path is 404; a route added with Mount
// still needs a device token.
func TestWrongMethod(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.MountIngest(relay.DefaultIngestOptions())
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.PUT("/test/mounted", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
				})
			})
		})
	cases := []struct {
		name, method, path, token string
		code                      int
		allow                     string
	}{
		{"signup asked with GET", "GET", "/v1/accounts", e.token, 405, "OPTIONS, POST"},
		{"signup asked with GET, no token", "GET", "/v1/accounts", "", 405, "OPTIONS, POST"},
		{"registration asked with PUT", "PUT", "/v1/devices", "", 405, "OPTIONS, POST"},
		{"stream key asked with PUT", "PUT", "/v1/keys/stream", e.token, 405, "OPTIONS, POST"},
		{"stream key asked with PUT, no token", "PUT", "/v1/keys/stream", "", 405, "OPTIONS, POST"},
		{"me asked with DELETE", "DELETE", "/v1/me", e.token, 405, "OPTIONS, GET"},
		{"track asked with POST", "POST", "/v1/tracks/tr1", e.token, 405, "OPTIONS, GET"},
		{"chunk asked with PUT", "PUT", "/v1/audio/tr1/high/chunks/0", e.token, 405, "OPTIONS, GET, HEAD"},
		{"mounted route asked with GET", "GET", "/v1/test/mounted", e.token, 405, "OPTIONS, PUT"},
		{"admin ingest asked with GET", "GET", "/v1/admin/ingest", adminToken, 405, "OPTIONS, POST"},
		{"metrics asked with POST", "POST", "/metrics", adminToken, 405, "OPTIONS, GET"},
		{"options", "OPTIONS", "/v1/me", "", 204, "OPTIONS, GET"},
		{"unknown path", "GET", "/v1/nope", e.token, 404, ""},
		{"unknown path, no token", "GET", "/v1/nope", "", 404, ""},
		{"unknown path, admin token", "POST", "/v1/admin/nope", adminToken, 404, ""},
		{"unknown path under a route", "GET", "/v1/tracks/tr1/nope", e.token, 404, ""},
		{"mounted route", "PUT", "/v1/test/mounted", e.token, 204, ""},
		{"mounted route, no token", "PUT", "/v1/test/mounted", "", 401, ""},
		{"mounted route, admin token", "PUT", "/v1/test/mounted", adminToken, 401, ""},
		{"admin ingest, device token", "POST", "/v1/admin/ingest", e.token, 401, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(t, tc.method, tc.path, nil, tc.token)
			if res.code != tc.code || res.header.Get("Allow") != tc.allow {
				t.Fatalf("%d Allow %q, want %d Allow %q: %s", res.code, res.header.Get("Allow"), tc.code, tc.allow, res.body)
			}
			if tc.code == 405 && tc.method != "HEAD" {
				if msg := res.errorMessage(t); msg != "Method Not Allowed" {
					t.Errorf("error %q", msg)
				}
			}
		})
	}
}

// TestAuthenticatedAnswersPrivate: every answer to a device token is
// Cache-Control "private, no-store" with nosniff unless its handler says
// otherwise (a mounted route that sets nothing, /v1/me, with the token in
// the header or the query); the audio routes keep their public caching
// and the metadata their "private, no-cache".
func TestAuthenticatedAnswersPrivate(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.Mount(func(v1 *relay.DeviceRoutes) {
					v1.GET("/test/mine", func(c echo.Context) error { return c.JSON(http.StatusOK, map[string]string{"q": "mine"}) })
				})
			})
		})
	manifest := "/v1/audio/" + string(e.pub.track.ID) + "/" + string(e.pub.tier) + "/manifest"
	for _, tc := range []struct{ path, query, cache string }{
		{"/v1/test/mine", "", relay.CachePrivate},
		{"/v1/test/mine", "?token=" + e.token, relay.CachePrivate},
		{"/v1/me", "", relay.CachePrivate},
		{manifest, "", relay.CachePositional},
		{"/v1/tracks/" + string(e.pub.track.ID), "", "private, no-cache"},
	} {
		token := e.token
		if tc.query != "" {
			token = ""
		}
		res := e.do(t, "GET", tc.path+tc.query, nil, token)
		if res.code != http.StatusOK || res.header.Get("Cache-Control") != tc.cache || res.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d Cache-Control %q nosniff %q, want 200 %q nosniff", tc.path, res.code,
				res.header.Get("Cache-Control"), res.header.Get("X-Content-Type-Options"), tc.cache)
		}
	}
}
