package crypto

import (
	"encoding/binary"
	"time"
)

// DeviceProofDomain prefixes every device proof message.
const DeviceProofDomain = "segue-device-v1\x00"

// DeviceProofMessage returns the bytes a device signs with its Ed25519
// key to register with the relay (POST /v1/devices, docs/ARCHITECTURE.md
// §4), and that the relay verifies:
//
//	"segue-device-v1\x00" ‖ u16 len ‖ username ‖ u16 len ‖ name ‖
//	sign_pub ‖ hpke_pub ‖ u64 issued (Unix seconds)
//
// with integers big-endian. Binding both public keys and a fresh
// timestamp proves the caller holds the signing key and that the HPKE key
// is the device's own (a proxy cannot substitute its own). It is a pure
// function of its arguments. Lengths are written as u16, so callers keep
// username and name under 65,536 bytes (relay usernames are at most 64
// bytes, device names 128) and pass 32-byte keys. The returned slice is
// the caller's.
func DeviceProofMessage(username, name string, signPub, hpkePub []byte, issued time.Time) []byte {
	b := make([]byte, 0, len(DeviceProofDomain)+4+len(username)+len(name)+len(signPub)+len(hpkePub)+8)
	b = append(b, DeviceProofDomain...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(username)))
	b = append(b, username...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = append(b, signPub...)
	b = append(b, hpkePub...)
	return binary.BigEndian.AppendUint64(b, uint64(issued.Unix()))
}
