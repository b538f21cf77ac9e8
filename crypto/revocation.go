package crypto

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// RevocationDomain is the signing domain of device revocation notices.
const RevocationDomain = "segue-device-revocation-v1"

// MaxRevocationSize bounds a revocation notice envelope (on the sync
// wire, in a device's store): VerifyRevocation refuses larger ones.
const MaxRevocationSize = 1024

// ErrBadRevocation is returned for a revocation notice that does not
// verify or does not decode.
var ErrBadRevocation = errors.New("crypto: bad revocation notice")

// Revocation is what the relay states when a device is deregistered:
// the device Device of User lost its certificate at At (Unix ms). The
// user's other devices keep it and refuse LAN sessions with the device
// from then on (docs/ARCHITECTURE.md §6).
type Revocation struct {
	User   model.UserID   `cbor:"1,keyasint"`
	Device model.DeviceID `cbor:"2,keyasint"`
	At     int64          `cbor:"3,keyasint"`
}

// IssueRevocation signs, with the catalog key (the key that signs
// device certificates), a notice that device of user is revoked as of
// at. The envelope is a Sign envelope in RevocationDomain over
// deterministic CBOR {1 user, 2 device id, 3 Unix ms}; the returned bytes
// are the caller's.
func IssueRevocation(catalog ed25519.PrivateKey, user model.UserID, device model.DeviceID, at time.Time) ([]byte, error) {
	if user == "" || device == "" {
		return nil, fmt.Errorf("%w: empty user or device", ErrBadRevocation)
	}
	payload, err := encMode.Marshal(Revocation{User: user, Device: device, At: at.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encode revocation: %w", err)
	}
	return Sign(catalog, RevocationDomain, payload)
}

// VerifyRevocation checks env against the catalog key and returns the
// notice; errors wrap ErrBadRevocation. env may be any untrusted bytes.
func VerifyRevocation(catalog ed25519.PublicKey, env []byte) (Revocation, error) {
	if len(env) > MaxRevocationSize {
		return Revocation{}, fmt.Errorf("%w: %d bytes, limit %d", ErrBadRevocation, len(env), MaxRevocationSize)
	}
	payload, err := Verify(catalog, RevocationDomain, env)
	if err != nil {
		return Revocation{}, fmt.Errorf("%w: %w", ErrBadRevocation, err)
	}
	var r Revocation
	if err := decMode.Unmarshal(payload, &r); err != nil {
		return Revocation{}, fmt.Errorf("%w: decode: %v", ErrBadRevocation, err)
	}
	if r.User == "" || r.Device == "" {
		return Revocation{}, fmt.Errorf("%w: empty user or device", ErrBadRevocation)
	}
	return r, nil
}
