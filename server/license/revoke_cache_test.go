package license_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestDeregisteredTokenRefusedAtOnce: a device whose token the relay has
// been answering (so its resolution sits in the relay's token cache) is
// deregistered by another device of the account; its very next request
// gets 401, not a cached identity.
func TestDeregisteredTokenRefusedAtOnce(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	toks := registerDevices(t, client, r.URL, "cachy", 2)
	get := func(tok string) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, r.URL+"/v1/me", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&b)
		return resp.StatusCode, b
	}
	var me struct {
		Device struct {
			ID string `json:"device_id"`
		} `json:"device"`
	}
	for range 20 { // ristretto admits asynchronously: give it many chances
		code, b := get(toks[0])
		if code != http.StatusOK {
			t.Fatalf("GET /v1/me: %d %s", code, b)
		}
		if err := json.Unmarshal(b, &me); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	req, err := http.NewRequest(http.MethodDelete, r.URL+"/v1/devices/"+me.Device.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+toks[1])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deregister: %d", resp.StatusCode)
	}
	if code, b := get(toks[0]); code != http.StatusUnauthorized {
		t.Fatalf("deregistered device's next request: %d %s, want 401", code, b)
	}
	if code, b := get(toks[1]); code != http.StatusOK {
		t.Fatalf("the other device: %d %s, want 200", code, b)
	}
}
