package p2p_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/p2p"
)

// The relay certifies a device's key for its user; LAN peers check it.
func ExampleIssueCert() {
	catalog := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{2}, 64)))
	cert, _ := p2p.IssueCert(catalog, "alice", id.SignPublic(), time.Unix(1_700_000_000, 0))
	c, err := p2p.VerifyCert(catalog.Public().(ed25519.PublicKey), cert, id.SignPublic())
	fmt.Println(c.User, c.Device == id.DeviceID(), err)
	// Output: alice true <nil>
}
