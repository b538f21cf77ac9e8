package crypto

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/segue-fm/segue/core/model"
)

// ErrDecrypt is returned when an HPKE or AEAD ciphertext does not open: it
// was sealed to another key, with other info/AAD, or was altered.
var ErrDecrypt = errors.New("crypto: cannot decrypt")

// ErrBadKey is returned for a public key or serialized identity of the
// wrong size or form.
var ErrBadKey = errors.New("crypto: bad key")

// HPKEPublicKeySize is the size of an X25519 HPKE public key.
const HPKEPublicKeySize = 32

// The HPKE suite of every seal: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// AES-128-GCM.
var (
	hpkeKEM  = hpke.DHKEM(ecdh.X25519())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES128GCM()
)

// Identity is a device's key pair: Ed25519 for signing requests and play
// events, X25519 for receiving content keys with HPKE. It is immutable
// and safe for concurrent use. Persist it with MarshalBinary (through a
// KeyStore) or use LoadOrCreateIdentity.
type Identity struct {
	sign     ed25519.PrivateKey
	x25519   []byte // 32-byte X25519 private scalar as given to NewPrivateKey
	hpkePriv hpke.PrivateKey
}

// NewIdentity creates an identity from 64 bytes of rand: a 32-byte
// Ed25519 seed then a 32-byte X25519 private key. The same bytes always
// give the same identity.
func NewIdentity(rand io.Reader) (*Identity, error) {
	var seed [64]byte
	if _, err := io.ReadFull(rand, seed[:]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShortRandom, err)
	}
	return identityFromSeeds(seed[:32], seed[32:])
}

func identityFromSeeds(edSeed, xPriv []byte) (*Identity, error) {
	if len(edSeed) != ed25519.SeedSize || len(xPriv) != 32 {
		return nil, fmt.Errorf("%w: seed sizes %d and %d", ErrBadKey, len(edSeed), len(xPriv))
	}
	xk, err := ecdh.X25519().NewPrivateKey(xPriv)
	if err != nil {
		return nil, fmt.Errorf("%w: x25519: %w", ErrBadKey, err)
	}
	hk, err := hpke.NewDHKEMPrivateKey(xk)
	if err != nil {
		return nil, fmt.Errorf("%w: hpke: %w", ErrBadKey, err)
	}
	return &Identity{
		sign:     ed25519.NewKeyFromSeed(edSeed),
		x25519:   append([]byte(nil), xPriv...),
		hpkePriv: hk,
	}, nil
}

// identityBlob is the serialized identity.
type identityBlob struct {
	Version int    `cbor:"1,keyasint"`
	EdSeed  []byte `cbor:"2,keyasint"`
	X25519  []byte `cbor:"3,keyasint"`
}

// MarshalBinary returns the identity's secret keys in deterministic CBOR.
// The result is secret: keep it in a KeyStore only. Owned by the caller.
func (id *Identity) MarshalBinary() ([]byte, error) {
	return encMode.Marshal(identityBlob{Version: 1, EdSeed: id.sign.Seed(), X25519: id.x25519})
}

// UnmarshalIdentity parses the output of MarshalBinary; errors match
// ErrBadKey.
func UnmarshalIdentity(b []byte) (*Identity, error) {
	var blob identityBlob
	if err := decMode.Unmarshal(b, &blob); err != nil {
		return nil, fmt.Errorf("%w: identity: %w", ErrBadKey, err)
	}
	if blob.Version != 1 {
		return nil, fmt.Errorf("%w: identity version %d", ErrBadKey, blob.Version)
	}
	return identityFromSeeds(blob.EdSeed, blob.X25519)
}

// DeviceIDFor returns the device id of an Ed25519 public key: lowercase
// hex of the first 16 bytes of its SHA-256 (as model.DeviceID documents).
func DeviceIDFor(pub ed25519.PublicKey) model.DeviceID {
	h := sha256.Sum256(pub)
	return model.DeviceID(hex.EncodeToString(h[:16]))
}

// DeviceID returns DeviceIDFor(id.SignPublic()).
func (id *Identity) DeviceID() model.DeviceID { return DeviceIDFor(id.SignPublic()) }

// SignPublic returns the Ed25519 public key (a new slice).
func (id *Identity) SignPublic() ed25519.PublicKey {
	return append(ed25519.PublicKey(nil), id.sign.Public().(ed25519.PublicKey)...)
}

// HPKEPublic returns the 32-byte X25519 HPKE public key (a new slice), the
// key the relay seals content keys to.
func (id *Identity) HPKEPublic() []byte {
	return id.hpkePriv.PublicKey().Bytes()
}

// Sign returns the Ed25519 signature of msg. Prefer SignEnvelope, whose
// domain separation keeps signatures for different purposes apart.
func (id *Identity) Sign(msg []byte) []byte { return ed25519.Sign(id.sign, msg) }

// SignEnvelope is Sign (the package function) with the device key: a
// signed envelope of payload under domain, verified with Verify and
// id.SignPublic().
func (id *Identity) SignEnvelope(domain string, payload []byte) ([]byte, error) {
	return Sign(id.sign, domain, payload)
}

// SealTo encrypts plaintext to the X25519 HPKE public key hpkePub (base
// mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM). info binds
// the ciphertext to its purpose; Open must pass the same info. The result,
// encapsulated key ‖ ciphertext (48 bytes longer than plaintext), is owned
// by the caller.
func SealTo(hpkePub []byte, info, plaintext []byte) ([]byte, error) {
	if len(hpkePub) != HPKEPublicKeySize {
		return nil, fmt.Errorf("%w: hpke public key of %d bytes", ErrBadKey, len(hpkePub))
	}
	pk, err := hpkeKEM.NewPublicKey(hpkePub)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	ct, err := hpke.Seal(pk, hpkeKDF, hpkeAEAD, info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("crypto: hpke seal: %w", err)
	}
	return ct, nil
}

// Open decrypts a SealTo ciphertext addressed to this identity with the
// same info. Any failure matches ErrDecrypt. The plaintext is owned by the
// caller.
func (id *Identity) Open(info, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < HPKEPublicKeySize+16 {
		return nil, fmt.Errorf("%w: hpke ciphertext of %d bytes", ErrDecrypt, len(ciphertext))
	}
	pt, err := hpke.Open(id.hpkePriv, hpkeKDF, hpkeAEAD, info, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrDecrypt, err)
	}
	return pt, nil
}

// WrapContentKey seals a content key to hpkePub (SealTo); the result is
// 64 bytes.
func WrapContentKey(hpkePub, info []byte, key ContentKey) ([]byte, error) {
	return SealTo(hpkePub, info, key[:])
}

// UnwrapContentKey opens a WrapContentKey result; errors match ErrDecrypt.
func (id *Identity) UnwrapContentKey(info, wrapped []byte) (ContentKey, error) {
	pt, err := id.Open(info, wrapped)
	if err != nil {
		return ContentKey{}, err
	}
	if len(pt) != len(ContentKey{}) {
		return ContentKey{}, fmt.Errorf("%w: content key of %d bytes", ErrDecrypt, len(pt))
	}
	return ContentKey(pt), nil
}

// StreamKeyInfo is the HPKE info for a content key delivered by
// POST /v1/keys/stream: "segue-key-v1\x00" ‖ track ‖ "\x00" ‖ tier
// (docs/ARCHITECTURE.md §3). A new slice.
func StreamKeyInfo(track model.TrackID, tier model.Tier) []byte {
	b := []byte("segue-key-v1\x00")
	b = append(b, track...)
	b = append(b, 0)
	return append(b, tier...)
}
