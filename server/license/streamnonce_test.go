package license_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestStreamKeyNonce: the ?nonce= of a stream-key request, which the
// signed statement of its answer echoes, is base64url of at most
// api.NonceSize bytes; any other is 400 naming it, as the nonce of
// POST /v1/licenses is. Before, a malformed or longer nonce was dropped
// without a word: the answer was 200 with a statement lacking it, which
// the device then failed to verify.
func TestStreamKeyNonce(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	if code, b := post(t, client, r.URL, "/v1/accounts", "", api.AccountRequest{Username: "cy", Password: testbed.Password}); code != http.StatusCreated {
		t.Fatalf("sign up: %d %s", code, b)
	}
	tok, _ := registerDevice(t, client, r.URL, "cy", "phone")
	key := api.StreamKeyRequest{Track: r.Tracks[0], Tier: model.TierLow}
	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"none", "", http.StatusOK},
		{"16 bytes", "?nonce=" + base64.RawURLEncoding.EncodeToString(make([]byte, api.NonceSize)), http.StatusOK},
		{"empty", "?nonce=", http.StatusOK},
		{"not base64url", "?nonce=zz%2Bz", http.StatusBadRequest},
		{"padded", "?nonce=" + base64.URLEncoding.EncodeToString(make([]byte, api.NonceSize)), http.StatusBadRequest},
		{"17 bytes", "?nonce=" + base64.RawURLEncoding.EncodeToString(make([]byte, api.NonceSize+1)), http.StatusBadRequest},
		{"5,000 characters", "?nonce=" + strings.Repeat("A", 5000), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, b := post(t, client, r.URL, "/v1/keys/stream"+tc.query, tok, key)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %s", code, tc.code, b)
			}
			if code == http.StatusBadRequest {
				var e api.ErrorBody
				if err := json.Unmarshal(b, &e); err != nil || !strings.Contains(e.Error, "nonce") {
					t.Fatalf("answer %s, want a JSON error naming the nonce", b)
				}
			}
		})
	}
}
