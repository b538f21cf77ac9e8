package license_test

import (
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/segue-fm/segue/crypto"
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
		return getWith(t, client, r.URL+"/v1/me", tok)
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

// TestRevokedTokensStayRevoked: the tokens of a deregistered device stay
// refused when its key is registered again, to the same account or to
// another: before, the token records outlived the device record they
// point to, so registering the key again revived every token issued
// before the deregistration, and after a registration to another
// account a token of the first answered as the second. Registering a
// device that is still registered issues an additional token and keeps
// the others.
func TestRevokedTokensStayRevoked(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	registerDevices(t, client, r.URL, "bea", 0)
	registerDevices(t, client, r.URL, "cid", 0)
	// me answers GET /v1/me with tok: the status and the account.
	me := func(t *testing.T, tok string) (int, string) {
		t.Helper()
		code, b := getWith(t, client, r.URL+"/v1/me", tok)
		var out struct {
			Device struct {
				User string `json:"user"`
			} `json:"device"`
		}
		_ = json.Unmarshal(b, &out)
		return code, out.Device.User
	}
	cases := []struct {
		name       string
		deregister bool   // the device is deregistered before it registers again
		again      string // the account it registers to again
		oldCode    int    // GET /v1/me with the first token afterwards
	}{
		{"same account, after deregistration", true, "bea", http.StatusUnauthorized},
		{"another account, after deregistration", true, "cid", http.StatusUnauthorized},
		{"same account, still registered", false, "bea", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := crypto.NewIdentity(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			old := registerIdentity(t, client, r.URL, "bea", "phone", id)
			for range 5 { // let the token cache hold it
				if code, user := me(t, old); code != http.StatusOK || user != "bea" {
					t.Fatalf("first token: %d %q", code, user)
				}
			}
			if tc.deregister {
				testbed.Deregister(t, r.URL, id.DeviceID(), old)
			}
			fresh := registerIdentity(t, client, r.URL, tc.again, "phone", id)
			if code, user := me(t, fresh); code != http.StatusOK || user != tc.again {
				t.Fatalf("new token: %d as %q, want 200 as %q", code, user, tc.again)
			}
			if code, user := me(t, old); code != tc.oldCode || (code == http.StatusOK && user != "bea") {
				t.Fatalf("first token afterwards: %d as %q, want %d", code, user, tc.oldCode)
			}
		})
	}
}

// getWith sends GET url with the bearer token tok and returns the status
// and the body.
func getWith(t *testing.T, client *http.Client, url, tok string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}
