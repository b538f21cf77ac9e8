package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// DeviceCertDomain is the signing domain of device certificates.
const DeviceCertDomain = "segue-device-cert-v1"

// MaxDeviceCertSize bounds a device certificate envelope (on the LAN
// wire, in the store, in a file): VerifyDeviceCert refuses larger ones.
const MaxDeviceCertSize = 4096

// ErrBadDeviceCert is returned for a device certificate that does not
// verify, does not decode, or names another key than the one the caller
// authenticated.
var ErrBadDeviceCert = errors.New("crypto: bad device certificate")

// DeviceCert is what the relay vouches for: the device with Ed25519 key
// SignPub (and id Device = DeviceIDFor(SignPub)) belongs to User, as of
// Issued. LAN peers accept it for a bounded time after Issued
// (p2p.WithCertMaxAge) and refuse it early once the relay's revocation
// notice for the device reached them (IssueRevocation).
type DeviceCert struct {
	User    model.UserID   `cbor:"1,keyasint"`
	Device  model.DeviceID `cbor:"2,keyasint"`
	SignPub []byte         `cbor:"3,keyasint"`
	Issued  int64          `cbor:"4,keyasint"` // Unix ms
}

// IssueDeviceCert signs, with the catalog key, a certificate binding
// signPub to user (the relay does this at device registration and on
// GET /v1/devices/cert). The envelope is a Sign envelope in
// DeviceCertDomain over deterministic CBOR {1 user, 2 device id,
// 3 sign_pub, 4 issued Unix ms}; the returned bytes are the caller's.
func IssueDeviceCert(catalog ed25519.PrivateKey, user model.UserID, signPub ed25519.PublicKey, issued time.Time) ([]byte, error) {
	if user == "" || len(signPub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: empty user or key of %d bytes", ErrBadDeviceCert, len(signPub))
	}
	payload, err := encMode.Marshal(DeviceCert{User: user, Device: DeviceIDFor(signPub), SignPub: signPub, Issued: issued.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encode device certificate: %w", err)
	}
	return Sign(catalog, DeviceCertDomain, payload)
}

// VerifyDeviceCert checks env against the catalog key and that it
// certifies remote (the key the transport authenticated, or the device's
// own key). It returns the certificate, whose SignPub aliases no input;
// errors wrap ErrBadDeviceCert. env may be any untrusted bytes.
func VerifyDeviceCert(catalog ed25519.PublicKey, env []byte, remote ed25519.PublicKey) (DeviceCert, error) {
	if len(env) > MaxDeviceCertSize {
		return DeviceCert{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadDeviceCert, len(env), MaxDeviceCertSize)
	}
	payload, err := Verify(catalog, DeviceCertDomain, env)
	if err != nil {
		return DeviceCert{}, fmt.Errorf("%w: %w", ErrBadDeviceCert, err)
	}
	var c DeviceCert
	if err := decMode.Unmarshal(payload, &c); err != nil {
		return DeviceCert{}, fmt.Errorf("%w: decode: %v", ErrBadDeviceCert, err)
	}
	if c.User == "" || !bytes.Equal(c.SignPub, remote) || c.Device != DeviceIDFor(remote) {
		return DeviceCert{}, fmt.Errorf("%w: not issued to this device", ErrBadDeviceCert)
	}
	return c, nil
}
