package license_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestOfflineDevices: GET /v1/licenses/devices lists the caller's
// account's devices holding an offline slot (not a device without a
// license, not another account's), oldest first with their names, and
// the limit; a device deregistered leaves the list.
func TestOfflineDevices(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{}
	toks := registerDevices(t, client, r.URL, "ada", 3)
	other := registerDevices(t, client, r.URL, "bob", 1)
	for _, tok := range []string{toks[0], toks[1], other[0]} {
		if code, b := post(t, client, r.URL, "/v1/licenses", tok, api.IssueRequest{Tracks: []model.TrackID{r.Tracks[0]}, Tier: model.TierLow}); code != http.StatusOK {
			t.Fatalf("license: %d %s", code, b)
		}
	}
	list := func(tok string) api.OfflineDevicesResponse {
		t.Helper()
		code, b := getWith(t, client, r.URL+"/v1/licenses/devices", tok)
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, b)
		}
		var out api.OfflineDevicesResponse
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	got := list(toks[2]) // a device without a slot may ask
	if got.Limit != 5 || len(got.Devices) != 2 || got.Devices[0].Name == got.Devices[1].Name ||
		got.Devices[0].Since == 0 || got.Devices[0].Since > got.Devices[1].Since {
		t.Fatalf("offline devices of ada = %+v; want device 0 and device 1, oldest first, of 5", got)
	}
	first := got.Devices[0]
	for _, d := range got.Devices {
		if d.Name != "device 0" && d.Name != "device 1" {
			t.Fatalf("offline devices of ada = %+v; want device 0 and device 1", got)
		}
		if d.Name == "device 0" {
			first = d
		}
	}
	req, err := http.NewRequest(http.MethodDelete, r.URL+"/v1/devices/"+string(first.DeviceID), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+toks[2])
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deregister: %s", resp.Status)
	}
	if got := list(toks[1]); len(got.Devices) != 1 || got.Devices[0].Name != "device 1" {
		t.Fatalf("after deregistering device 0: %+v", got)
	}
	if got := list(other[0]); len(got.Devices) != 1 || got.Devices[0].Name != "device 0" {
		t.Fatalf("offline devices of bob = %+v; want his one", got)
	}
}
