package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/relay"
)

// routesAdmin is the admin token of the relay TestRelayRoutes assembles.
const routesAdmin = "routes-admin-token-0123456789"

// publicRoutes are the routes of `segue relay` that take no device or
// admin token: they authenticate otherwise (signup, password, a signed
// renewal) or serve anyone (liveness, the web player, share links).
var publicRoutes = []string{
	"GET /healthz", "HEAD /healthz",
	"POST /v1/accounts",       // open signup, or the admin token when closed
	"POST /v1/devices",        // username, password and device proof
	"POST /v1/licenses/renew", // signed by the device key
	"GET /", "HEAD /", "GET /index.html", "HEAD /index.html", "GET /sw.js", "HEAD /sw.js", "GET /assets/*", "HEAD /assets/*",
	"GET /s/:token", "GET /s/:token/preview", "GET /s/:token/preview/:n",
}

// fillPath returns a request path for an Echo route path: every :param
// and * segment becomes "x".
func fillPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || s == "*" {
			segs[i] = "x"
		}
	}
	return strings.Join(segs, "/")
}

// routesRelay starts a relay with every service `segue relay` mounts
// (mountServices), admin token routesAdmin, and returns it.
func routesRelay(t *testing.T) *testbed.Relay {
	t.Helper()
	var svc relayServices
	var mountErr error
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithAdminToken(routesAdmin) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			aw := access.NewStoreWriter(dd.Store, access.DefaultOptions())
			t.Cleanup(func() { aw.Close() })
			svc, mountErr = mountServices(t.Context(), dd, srv, serviceConfig{admin: routesAdmin, recsPacing: relayrecs.DefaultPacing,
				access: aw, events: events.NewStoreLog(dd.Store), log: slog.New(slog.DiscardHandler)})
		}))
	if mountErr != nil {
		t.Fatal(mountErr)
	}
	t.Cleanup(func() {
		svc.stopRecs()
		if err := svc.search.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return r
}

// TestRelayRoutes checks the routes `segue relay` serves, as
// mountServices assembles them on a relay: every route but the public
// ones refuses a request without a token (401), device and admin routes
// alike, so no restructuring of the routes can drop authentication
// unnoticed; every path asked with a method it does not have is 405 with
// an Allow header listing exactly its methods, with or without a token;
// an unknown path is 404; and no catch-all route is registered (one
// turns those 405s into 404s).
func TestRelayRoutes(t *testing.T) {
	r := routesRelay(t)
	device := testbed.Device(t, r, "ada").Token()

	do := func(t *testing.T, method, path, token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, r.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	methods := map[string][]string{} // path → its methods
	for _, rt := range r.Server().Echo().Routes() {
		if rt.Method == echo.RouteNotFound {
			t.Errorf("catch-all route %s registered: it answers 404 where 405 is due", rt.Path)
			continue
		}
		methods[rt.Path] = append(methods[rt.Path], rt.Method)
	}
	for _, pr := range publicRoutes {
		m, p, _ := strings.Cut(pr, " ")
		if !slices.Contains(methods[p], m) {
			t.Errorf("public route %s is not served: publicRoutes is stale", pr)
		}
	}
	if len(methods) < 40 {
		t.Fatalf("only %d paths registered: services missing", len(methods))
	}

	t.Run("a token is required", func(t *testing.T) {
		checked := 0
		for p, ms := range methods {
			for _, m := range ms {
				if slices.Contains(publicRoutes, m+" "+p) {
					continue
				}
				checked++
				if resp := do(t, m, fillPath(p), ""); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s without a token: %d, want 401", m, p, resp.StatusCode)
				}
			}
		}
		t.Logf("%d routes refuse a request without a token", checked)
	})

	t.Run("wrong method", func(t *testing.T) {
		for p, ms := range methods {
			var other string
			for _, m := range []string{http.MethodPatch, http.MethodPut, http.MethodDelete, http.MethodPost, http.MethodGet} {
				if !slices.Contains(ms, m) {
					other = m
					break
				}
			}
			want := append([]string{http.MethodOptions}, ms...)
			slices.Sort(want)
			for _, tok := range []string{"", device, routesAdmin} {
				resp := do(t, other, fillPath(p), tok)
				allow := strings.Split(resp.Header.Get("Allow"), ", ")
				slices.Sort(allow)
				if resp.StatusCode != http.StatusMethodNotAllowed || !slices.Equal(allow, want) {
					t.Errorf("%s %s (token %v): %d Allow %q, want 405 Allow %q", other, p, tok != "", resp.StatusCode, resp.Header.Get("Allow"), want)
				}
			}
		}
	})

	// The reviewer's cases, and unknown paths.
	cases := []struct {
		method, path, token string
		code                int
		allow               string
	}{
		{"PUT", "/v1/plays", device, 405, "OPTIONS, POST"},
		{"GET", "/v1/accounts", device, 405, "OPTIONS, POST"},
		{"POST", "/v1/admin/counts", routesAdmin, 405, "OPTIONS, GET"},
		{"DELETE", "/v1/admin/subscriptions/bob", routesAdmin, 405, "OPTIONS, GET, PUT"},
		{"HEAD", "/v1/me", device, 405, "OPTIONS, GET"},
		{"GET", "/v1/nope", device, 404, ""},
		{"GET", "/v1/nope", "", 404, ""},
		{"GET", "/v1/tracks/x/nope", device, 404, ""},
		{"GET", "/v1/admin/nope", routesAdmin, 404, ""},
		{"GET", "/v1/me", device, 200, ""},
		{"GET", "/v1/me", routesAdmin, 401, ""}, // the admin token is no device token
	}
	for _, tc := range cases {
		resp := do(t, tc.method, tc.path, tc.token)
		if resp.StatusCode != tc.code || resp.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Allow"), tc.code, tc.allow)
		}
	}
}

// TestRelayErrorsQuoteInput: the errors of the services mountServices
// adds quote client input as relay.QuoteInput does, at most
// relay.MaxEchoedInput bytes of it with control bytes escaped. Search's
// limit, offset and types, the similar tracks' and the admin
// subscription's ids, a recs week and time zone echoed all of it (or
// 256 bytes, the clipped message), a NUL raw; an admin counts track of
// over 128 bytes was "track required".
func TestRelayErrorsQuoteInput(t *testing.T) {
	r := routesRelay(t)
	device := testbed.Device(t, r, "ada").Token()
	long := strings.Repeat("x", 300)
	id := strings.Repeat("x", 100) // a valid id, longer than what is echoed
	cases := []struct {
		name, method, path, token, body string
		code                            int
		want                            string
	}{
		{"search limit", "GET", "/v1/search?q=a&limit=" + long, device, "", 400, "limit"},
		{"search offset", "GET", "/v1/search?q=a&offset=" + long, device, "", 400, "offset"},
		{"search types", "GET", "/v1/search?q=a&types=" + long, device, "", 400, "types"},
		{"similar track", "GET", "/v1/tracks/" + id + "/similar", device, "", 404, "track"},
		{"subscription account", "GET", "/v1/admin/subscriptions/" + id, routesAdmin, "", 404, "account"},
		{"subscription account with NUL", "GET", "/v1/admin/subscriptions/a%00b", routesAdmin, "", 404, `account "a\x00b"`},
		{"counts track too long", "GET", "/v1/admin/counts?month=2026-01&track=" + long, routesAdmin, "", 400, "not a track id"},
		{"recs week", "POST", "/v1/admin/recs/run", routesAdmin, `{"week":"` + long + `"}`, 400, "week"},
		{"time zone", "PUT", "/v1/recommendations/timezone", device, `{"time_zone":"` + long + `"}`, 400, "time zone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, err := http.NewRequest(tc.method, r.URL+tc.path, body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+tc.token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Error string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.code || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("%d %q, want %d naming %q", resp.StatusCode, e.Error, tc.code, tc.want)
			}
			if strings.Contains(e.Error, strings.Repeat("x", relay.MaxEchoedInput+1)) || strings.ContainsRune(e.Error, 0) {
				t.Fatalf("error %q echoes more than %d bytes of input, or a raw NUL", e.Error, relay.MaxEchoedInput)
			}
		})
	}
}
