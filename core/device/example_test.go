package device_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/device"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// A device registers, checks the relay's answer and pins the catalog key
// it names; a later answer with another key is refused.
func Example() {
	ctx := context.Background()
	id, _ := crypto.NewIdentity(rand.Reader)
	req := device.RegisterRequest(id, "ada", "correct horse", "phone", time.Now())
	fmt.Println("signed for", req.Username, "as", req.Name)

	relayKey := make([]byte, 32) // the relay's answer would carry its key
	out := api.RegisterResponse{Token: "opaque", DeviceID: id.DeviceID(), CatalogKey: relayKey}
	if err := device.CheckRegistered(out, id.DeviceID()); err != nil {
		fmt.Println(err)
		return
	}
	pin, _ := device.LoadPin(ctx, store.NewMemory(), nil)
	pinned, _ := pin.Set(ctx, out.CatalogKey)
	fmt.Println("pinned on first use:", pinned)
	other := make([]byte, 32)
	other[0] = 1
	_, err := pin.Set(ctx, other)
	fmt.Println(err)
	// Output:
	// signed for ada as phone
	// pinned on first use: true
	// device: catalog key differs from the pinned key
}
