package license_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/license"
)

// TestDeviceEntryBudget: the (track, tier) entries licensed to one
// device, issued or renewed, come from a bucket of
// license.Options.WithDeviceEntriesPerDay refilled over the day; past it
// the device gets 429 with Retry-After, another device of the account
// does not, and a request naming more tracks than the bucket holds is
// 413. Before, one device asking in a loop had licenses issued as fast as
// the relay could sign them (2,000 in 10 s over curl), each writing one
// access record per entry, kept for ever by default: unbounded growth of
// the relay's store, and a full access queue dropping every other
// device's records.
func TestDeviceEntryBudget(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).
		WithLicenseOptions(func(o license.Options) license.Options { return o.WithDeviceEntriesPerDay(10) }))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	registerDevices(t, client, r.URL, "ada", 0)
	tok, id := registerDevice(t, client, r.URL, "ada", "looper")
	other, _ := registerDevice(t, client, r.URL, "ada", "other")
	all := api.IssueRequest{Tracks: r.Tracks, Tier: model.TierLow} // the 4 demo tracks
	var first []byte
	cases := []struct {
		name  string
		token string
		req   api.IssueRequest
		code  int
	}{
		{"first 4 of 10", tok, all, http.StatusOK},
		{"next 4 of 10", tok, all, http.StatusOK},
		{"4 more with 2 left", tok, all, http.StatusTooManyRequests},
		{"another device", other, all, http.StatusOK},
		{"more tracks than the bucket holds", other, api.IssueRequest{Tracks: manyTracks(11), Tier: model.TierLow}, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		code, b := post(t, client, r.URL, "/v1/licenses", tc.token, tc.req)
		if code != tc.code {
			t.Fatalf("%s: %d %s, want %d", tc.name, code, b, tc.code)
		}
		if first == nil && code == http.StatusOK {
			first = b
		}
	}
	l, err := crypto.OpenLicense(r.CatalogKey, id, first)
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := renewSigned(t, client, r, id, []string{l.ID}); code != http.StatusTooManyRequests {
		t.Fatalf("renewal past the budget: %d, want 429", code)
	}
	code, after := retryAfterOf(t, client, r.URL, tok, all)
	if code != http.StatusTooManyRequests || after < 1 {
		t.Fatalf("refusal: %d with Retry-After %d, want 429 with a wait", code, after)
	}
}

// retryAfterOf posts req to /v1/licenses with tok and returns the status
// and the Retry-After in seconds (0 without one).
func retryAfterOf(t *testing.T, client *http.Client, base, tok string, req api.IssueRequest) (int, int) {
	t.Helper()
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(http.MethodPost, base+"/v1/licenses", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Authorization", "Bearer "+tok)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	after, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	return resp.StatusCode, after
}
