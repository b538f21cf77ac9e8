package license_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/license"
)

// TestReregisteredRenewalRevoked: a device deregistered and then
// registered again (same account or another) that renews the licenses
// it held before is told, signed, that it was revoked. Before, the
// device record made the relay skip its tombstone and answer 404 "no
// licenses to renew", an unsigned answer the device cannot act on: it
// kept playing the licenses its deregistration had voided, without an
// offline slot, so an account could hold licenses on any number of
// devices (download, deregister, log in again, repeat). A device
// registered again that took a license since renews normally (the new
// license replaces the old ones), and so does one never deregistered;
// one registered again to an account whose subscription ended is told
// it was revoked, not refused.
func TestReregisteredRenewalRevoked(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).
		WithLicenseOptions(func(o license.Options) license.Options { return o.WithAdminToken(licAdmin) }))
	client := &http.Client{}
	defer client.CloseIdleConnections()
	registerDevices(t, client, r.URL, "ada", 0)
	registerDevices(t, client, r.URL, "bea", 0)
	registerDevices(t, client, r.URL, "cid", 0)
	req, err := http.NewRequest(http.MethodPut, r.URL+"/v1/admin/subscriptions/cid", strings.NewReader(`{"state":"expired"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+licAdmin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("expire cid's subscription: %s", resp.Status)
	}
	cases := []struct {
		name       string
		deregister bool   // deregistered after its first license
		again      string // registered again to this account ("": not)
		relicense  bool   // takes a license after registering again
		code       int
		status     string
	}{
		{"registered again to the same account", true, "ada", false, http.StatusForbidden, api.StatusRevoked},
		{"registered again to another account", true, "bea", false, http.StatusForbidden, api.StatusRevoked},
		// Revoked, not refused for the subscription: a refusal leaves
		// the voided licenses to play until they run out.
		{"registered again to an account whose subscription expired", true, "cid", false, http.StatusForbidden, api.StatusRevoked},
		{"registered again and licensed again", true, "ada", true, http.StatusOK, api.StatusOK},
		{"never deregistered", false, "", false, http.StatusOK, api.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := crypto.NewIdentity(rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			tok := registerIdentity(t, client, r.URL, "ada", "phone", id)
			issue := api.IssueRequest{Tracks: []model.TrackID{r.Tracks[0]}, Tier: model.TierLow}
			code, env := post(t, client, r.URL, "/v1/licenses", tok, issue)
			if code != http.StatusOK {
				t.Fatalf("license: %d %s", code, env)
			}
			l, err := crypto.OpenLicense(r.CatalogKey, id, env)
			if err != nil {
				t.Fatal(err)
			}
			if tc.deregister {
				testbed.Deregister(t, r.URL, id.DeviceID(), tok)
			}
			if tc.again != "" {
				tok = registerIdentity(t, client, r.URL, tc.again, "phone", id)
			}
			if tc.relicense {
				if code, b := post(t, client, r.URL, "/v1/licenses", tok, issue); code != http.StatusOK {
					t.Fatalf("license again: %d %s", code, b)
				}
			}
			code, status := renewSigned(t, client, r, id, []string{l.ID})
			if code != tc.code || status != tc.status {
				t.Fatalf("renewal: %d, statement %q; want %d, %q", code, status, tc.code, tc.status)
			}
		})
	}
}

// renewSigned renews the licenses ids of the device id with a signed
// request and returns the status code and the status of the answer's
// signed statement ("" without one).
func renewSigned(t *testing.T, client *http.Client, r *testbed.Relay, id *crypto.Identity, ids []string) (int, string) {
	t.Helper()
	nonce := make([]byte, api.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	msg, err := crypto.RenewMessage(id.DeviceID(), nonce, ids, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(api.RenewRequest{Device: id.DeviceID(), LicenseIDs: ids, Nonce: nonce, Sig: id.Sign(msg)})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(r.URL+"/v1/licenses/renew", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h := resp.Header.Get(api.StatementHeader)
	if h == "" {
		return resp.StatusCode, ""
	}
	env, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := crypto.Verify(r.CatalogKey, api.StatementDomain, env)
	if err != nil {
		t.Fatal(err)
	}
	var st api.Statement
	if err := cbor.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	if st.Device != string(id.DeviceID()) || !bytes.Equal(st.Nonce, nonce) {
		t.Fatalf("statement for device %s nonce %x, want %s %x", st.Device, st.Nonce, id.DeviceID(), nonce)
	}
	return resp.StatusCode, st.Status
}
