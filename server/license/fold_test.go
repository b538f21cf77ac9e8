package license_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/license"
)

// TestDeviceRecordsFolded: a device asking for a license again and again
// leaves at most license.MaxDeviceRecords records on the relay (they are
// folded), and its renewal still covers every track it was licensed.
func TestDeviceRecordsFolded(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{}
	if code, b := post(t, client, r.URL, "/v1/accounts", "", api.AccountRequest{Username: "ada", Password: testbed.Password}); code != http.StatusCreated {
		t.Fatalf("sign up: %d %s", code, b)
	}
	tok, id := registerDevice(t, client, r.URL, "ada", "looper")
	const n = license.MaxDeviceRecords + 40
	for i := range n {
		code, b := post(t, client, r.URL, "/v1/licenses", tok, api.IssueRequest{Tracks: []model.TrackID{r.Tracks[i%len(r.Tracks)]}, Tier: model.TierLow})
		if code != http.StatusOK {
			t.Fatalf("license %d: %d %s", i, code, b)
		}
	}
	nonce := make([]byte, api.NonceSize)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	dev := id.DeviceID()
	msg, err := crypto.RenewMessage(dev, nonce, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	code, env := post(t, client, r.URL, "/v1/licenses/renew", "", api.RenewRequest{Device: dev, Nonce: nonce, Sig: id.Sign(msg)})
	if code != http.StatusOK {
		t.Fatalf("renew: %d %s", code, env)
	}
	l, err := crypto.OpenLicense(r.CatalogKey, id, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != len(r.Tracks) {
		t.Fatalf("renewed license has %d entries, want the %d tracks licensed", len(l.Entries), len(r.Tracks))
	}
	for i := range n {
		post(t, client, r.URL, "/v1/licenses", tok, api.IssueRequest{Tracks: []model.TrackID{r.Tracks[i%len(r.Tracks)]}, Tier: model.TierLow})
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	dd, err := catalog.OpenDataDir(context.Background(), r.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	records := 0
	if err := dd.Store.Iterate(context.Background(), []byte(fmt.Sprintf("lic/d/%s/", dev)), false, func(k, _ []byte) error {
		records++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if records > license.MaxDeviceRecords {
		t.Fatalf("%d license records kept for the device after %d licenses, want at most %d", records, n, license.MaxDeviceRecords)
	}
}
