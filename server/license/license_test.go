package license_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

// licAdmin is the license service's admin token in these tests (one
// relay.CheckAdminToken accepts: a shorter one guards nothing).
const licAdmin = "license-admin-token-0123456789"

// TestRoutes checks the admin and renewal routes' refusals on a real
// relay over Badger (the issuing and renewal paths are exercised end to
// end by core/download's tests).
func TestRoutes(t *testing.T) {
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	quiet := slog.New(slog.DiscardHandler)
	srv := relay.NewWithDataDir(dd, relay.DefaultOptions("").WithArgonParams(relay.FastArgonParams).WithLogger(quiet))
	license.NewForDataDir(dd, license.DefaultOptions().WithAdminToken(licAdmin).WithLogger(quiet)).Mount(srv)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	do := func(method, path, token string, body any) int {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, hs.URL+path, bytes.NewReader(b))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := do("POST", "/v1/accounts", "", map[string]string{"username": "bo", "password": "long enough pw"}); c != 201 {
		t.Fatalf("signup %d", c)
	}
	tests := []struct {
		name, method, path, token string
		body                      any
		want                      int
	}{
		{"admin without token", "PUT", "/v1/admin/subscriptions/bo", "", api.SubscriptionRequest{State: "cancelled"}, 401},
		{"admin wrong token", "PUT", "/v1/admin/subscriptions/bo", "nope", api.SubscriptionRequest{State: "cancelled"}, 401},
		{"unknown state", "PUT", "/v1/admin/subscriptions/bo", licAdmin, api.SubscriptionRequest{State: "paused"}, 400},
		{"unknown account", "PUT", "/v1/admin/subscriptions/zed", licAdmin, api.SubscriptionRequest{State: "expired"}, 404},
		{"cancel", "PUT", "/v1/admin/subscriptions/bo", licAdmin, api.SubscriptionRequest{State: "cancelled"}, 200},
		{"read", "GET", "/v1/admin/subscriptions/bo", licAdmin, nil, 200},
		{"issue without token", "POST", "/v1/licenses", "", api.IssueRequest{Tier: "low"}, 401},
		{"renew short nonce", "POST", "/v1/licenses/renew", "", api.RenewRequest{Device: "d1", Nonce: []byte{1}}, 400},
		{"renew unknown device", "POST", "/v1/licenses/renew", "", api.RenewRequest{Device: "d1", Nonce: make([]byte, 16), Sig: make([]byte, 64)}, 401},
		{"renew bad device id", "POST", "/v1/licenses/renew", "", api.RenewRequest{Device: "a/b", Nonce: make([]byte, 16)}, 400},
		{"deregister without token", "DELETE", "/v1/devices/d1", "", nil, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := do(tc.method, tc.path, tc.token, tc.body); got != tc.want {
				t.Fatalf("%s %s: %d, want %d", tc.method, tc.path, got, tc.want)
			}
		})
	}
}
