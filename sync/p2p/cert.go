package p2p

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// CertDomain is the signing domain of device certificates.
const CertDomain = "segue-device-cert-v1"

// MaxCertSize bounds a device certificate on the wire.
const MaxCertSize = 4096

// ErrBadCert is returned for a device certificate that does not verify,
// does not decode, or names another key than the authenticated peer.
var ErrBadCert = errors.New("p2p: bad device certificate")

// Cert is what the relay vouches for: the device with Ed25519 key
// SignPub belongs to User. Issued is informative; a certificate stays
// valid as long as the catalog key that signed it is trusted.
type Cert struct {
	User    model.UserID   `cbor:"1,keyasint"`
	Device  model.DeviceID `cbor:"2,keyasint"`
	SignPub []byte         `cbor:"3,keyasint"`
	Issued  int64          `cbor:"4,keyasint"` // Unix ms
}

var (
	certEnc, _ = cbor.CoreDetEncOptions().EncMode()
	certDec, _ = cbor.DecOptions{DupMapKey: cbor.DupMapKeyEnforcedAPF, ExtraReturnErrors: cbor.ExtraDecErrorUnknownField, MaxArrayElements: 16, MaxMapPairs: 16}.DecMode()
)

// IssueCert signs a certificate binding signPub to user with the
// catalog key (the relay does this at device registration). The
// returned envelope is owned by the caller.
func IssueCert(catalog ed25519.PrivateKey, user model.UserID, signPub ed25519.PublicKey, issued time.Time) ([]byte, error) {
	if user == "" || len(signPub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: empty user or key of %d bytes", ErrBadCert, len(signPub))
	}
	payload, err := certEnc.Marshal(Cert{User: user, Device: crypto.DeviceIDFor(signPub), SignPub: signPub, Issued: issued.UnixMilli()})
	if err != nil {
		return nil, fmt.Errorf("encode cert: %w", err)
	}
	return crypto.Sign(catalog, CertDomain, payload)
}

// VerifyCert checks env against the catalog key and that it certifies
// remote (the key the transport authenticated). It returns the
// certificate; errors wrap ErrBadCert.
func VerifyCert(catalog ed25519.PublicKey, env []byte, remote ed25519.PublicKey) (Cert, error) {
	if len(env) > MaxCertSize {
		return Cert{}, fmt.Errorf("%w: %d bytes", ErrBadCert, len(env))
	}
	payload, err := crypto.Verify(catalog, CertDomain, env)
	if err != nil {
		return Cert{}, fmt.Errorf("%w: %w", ErrBadCert, err)
	}
	var c Cert
	if err := certDec.Unmarshal(payload, &c); err != nil {
		return Cert{}, fmt.Errorf("%w: decode: %v", ErrBadCert, err)
	}
	if c.User == "" || !bytes.Equal(c.SignPub, remote) || c.Device != crypto.DeviceIDFor(remote) {
		return Cert{}, fmt.Errorf("%w: not issued to this device", ErrBadCert)
	}
	return c, nil
}
