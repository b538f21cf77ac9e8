package crypto

import "crypto/ed25519"

// SigningKey returns a copy of the device's Ed25519 private key, for
// transports that authenticate with it (libp2p's Noise handshake in
// sync/p2p). The result is secret and owned by the caller.
func (id *Identity) SigningKey() ed25519.PrivateKey {
	return append(ed25519.PrivateKey(nil), id.sign...)
}
