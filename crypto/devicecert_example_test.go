package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/segue-fm/segue/crypto"
)

// The relay certifies a device's key for its user; LAN peers check the
// certificate against the catalog key and the key their transport
// authenticated.
func ExampleIssueDeviceCert() {
	catalog := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{2}, 64)))
	cert, _ := crypto.IssueDeviceCert(catalog, "alice", id.SignPublic(), time.Unix(1_700_000_000, 0))
	c, err := crypto.VerifyDeviceCert(catalog.Public().(ed25519.PublicKey), cert, id.SignPublic())
	fmt.Println(c.User, c.Device == id.DeviceID(), err)
	// Output: alice true <nil>
}

// A device signs its registration proof; the relay rebuilds the same
// bytes from the request and verifies the signature.
func ExampleDeviceProofMessage() {
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{2}, 64)))
	issued := time.Unix(1_700_000_000, 0)
	sig := id.Sign(crypto.DeviceProofMessage("ada", "phone", id.SignPublic(), id.HPKEPublic(), issued))
	msg := crypto.DeviceProofMessage("ada", "phone", id.SignPublic(), id.HPKEPublic(), issued)
	fmt.Println(ed25519.Verify(id.SignPublic(), msg, sig))
	// Output: true
}
