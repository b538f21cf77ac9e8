package api_test

import (
	"encoding/json"
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// A device's stream-key request as it goes on the wire, and the relay
// decoding it.
func Example() {
	body, err := json.Marshal(api.StreamKeyRequest{Track: "t1", Tier: model.TierLow})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))

	var req api.StreamKeyRequest
	if err := json.Unmarshal(body, &req); err != nil {
		panic(err)
	}
	fmt.Println(req.Track, req.Tier)
	// Output:
	// {"track":"t1","tier":"low"}
	// t1 low
}

// A renewal names the licenses to renew and the entries the device no
// longer holds; Sig is the device's signature over crypto.RenewMessage.
func ExampleRenewRequest() {
	req := api.RenewRequest{
		Device:     "dev1",
		LicenseIDs: []string{"lic1"},
		Drop:       []api.Entry{{Track: "t9", Tier: model.TierHigh}},
		Nonce:      make([]byte, api.NonceSize),
	}
	body, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(body))
	// Output:
	// {"device":"dev1","license_ids":["lic1"],"drop":[{"track":"t9","tier":"high"}],"nonce":"AAAAAAAAAAAAAAAAAAAAAA==","sig":null}
}
