package crypto

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
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

// RenewDomain prefixes the bytes a device signs to renew its offline
// licenses (RenewMessage).
const RenewDomain = "segue-renew-v1"

// RenewMessage returns the bytes a device signs with its Ed25519 key to
// renew its offline licenses (POST /v1/licenses/renew, api.RenewRequest),
// and that the relay verifies:
//
//	"segue-renew-v1" ‖ 0 ‖ u16 len ‖ device ‖ u16 len ‖ nonce ‖
//	u32 count ‖ (u16 len ‖ license id)…
//
// followed, only when drop is non-empty, by u32 count ‖ (u16 len ‖ track ‖
// u16 len ‖ tier)…; integers big-endian. (Without drops the message is the
// one of devices that never drop.) It is a pure function of its
// arguments; the returned slice is the caller's. It fails for a field
// longer than 65,535 bytes.
func RenewMessage(device model.DeviceID, nonce []byte, ids []string, drop []api.Entry) ([]byte, error) {
	b := append([]byte(RenewDomain), 0)
	var err error
	put := func(s []byte) {
		if len(s) > 0xffff {
			err = fmt.Errorf("crypto: renew field of %d bytes", len(s))
			return
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	put([]byte(device))
	put(nonce)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		put([]byte(id))
	}
	if len(drop) > 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(drop)))
		for _, e := range drop {
			put([]byte(e.Track))
			put([]byte(e.Tier))
		}
	}
	return b, err
}
