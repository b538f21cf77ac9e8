package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"

	"github.com/segue-fm/segue/internal/cborx"
)

// Sentinel errors of envelope, manifest and license verification.
var (
	// ErrMalformed: the bytes are not a well-formed envelope or payload
	// (bad CBOR, wrong sizes, unknown fields, too large).
	ErrMalformed = errors.New("crypto: malformed signed data")
	// ErrUnknownKey: the envelope names a key id other than the
	// verifying key's.
	ErrUnknownKey = errors.New("crypto: signed by an unknown key")
	// ErrBadSignature: the signature does not verify.
	ErrBadSignature = errors.New("crypto: bad signature")
)

// MaxEnvelopeSize bounds any signed envelope Verify accepts (a license for
// 10,000 tracks is about 1 MiB).
const MaxEnvelopeSize = 16 << 20

// KeyIDSize is the length of a key id.
const KeyIDSize = 8

// KeyID returns the id of an Ed25519 public key as carried in envelopes:
// the first 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) [KeyIDSize]byte {
	h := sha256.Sum256(pub)
	return [KeyIDSize]byte(h[:KeyIDSize])
}

// envelope is the signed wrapper {1: payload, 2: signature, 3: key id}.
type envelope struct {
	Payload []byte `cbor:"1,keyasint"`
	Sig     []byte `cbor:"2,keyasint"`
	KeyID   []byte `cbor:"3,keyasint"`
}

var (
	encMode = cborx.EncMode()
	// decMode is the strict decoder for untrusted bytes: no duplicate
	// keys, no indefinite lengths, no tags, valid UTF-8, no unknown fields,
	// bounded nesting and counts.
	decMode = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 16, MaxMapPairs: 64}.ClosedDecMode()
)

// signedMessage is what an envelope's signature covers: domain ‖ 0x00 ‖
// payload.
func signedMessage(domain string, payload []byte) []byte {
	msg := make([]byte, 0, len(domain)+1+len(payload))
	msg = append(msg, domain...)
	msg = append(msg, 0)
	return append(msg, payload...)
}

func checkDomain(domain string) error {
	if domain == "" || strings.IndexByte(domain, 0) >= 0 {
		return fmt.Errorf("%w: bad signing domain %q", ErrMalformed, domain)
	}
	return nil
}

// Sign wraps payload in a signed envelope: deterministic CBOR
// {1: payload, 2: Ed25519 signature over domain ‖ 0x00 ‖ payload, 3: key
// id of priv's public key}. domain separates uses ("segue-manifest-v1",
// "segue-license-v1", …) so a signature for one can never pass as
// another; it must be non-empty and contain no NUL. The result is a new
// slice owned by the caller.
func Sign(priv ed25519.PrivateKey, domain string, payload []byte) ([]byte, error) {
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("crypto: sign: private key of %d bytes", len(priv))
	}
	id := KeyID(priv.Public().(ed25519.PublicKey))
	env := envelope{
		Payload: payload,
		Sig:     ed25519.Sign(priv, signedMessage(domain, payload)),
		KeyID:   id[:],
	}
	out, err := encMode.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("crypto: encode envelope: %w", err)
	}
	return out, nil
}

// Verify checks an envelope made by Sign with the same domain and returns
// its payload (a new slice owned by the caller). Errors match
// ErrMalformed (not a deterministic-CBOR envelope, or larger than
// MaxEnvelopeSize),
// ErrUnknownKey (signed by another key) or ErrBadSignature.
func Verify(pub ed25519.PublicKey, domain string, env []byte) ([]byte, error) {
	return verify(pub, domain, env, MaxEnvelopeSize)
}

func verify(pub ed25519.PublicKey, domain string, raw []byte, max int) ([]byte, error) {
	if err := checkDomain(domain); err != nil {
		return nil, err
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes", ErrUnknownKey, len(pub))
	}
	if len(raw) > max {
		return nil, fmt.Errorf("%w: envelope of %d bytes exceeds %d", ErrMalformed, len(raw), max)
	}
	var env envelope
	if err := decMode.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	if again, err := encMode.Marshal(env); err != nil || !bytes.Equal(again, raw) {
		return nil, fmt.Errorf("%w: envelope not in deterministic encoding", ErrMalformed)
	}
	if len(env.Sig) != ed25519.SignatureSize || len(env.KeyID) != KeyIDSize {
		return nil, fmt.Errorf("%w: signature %d bytes, key id %d bytes", ErrMalformed, len(env.Sig), len(env.KeyID))
	}
	if id := KeyID(pub); !bytes.Equal(env.KeyID, id[:]) {
		return nil, fmt.Errorf("%w: key id %x", ErrUnknownKey, env.KeyID)
	}
	if !ed25519.Verify(pub, signedMessage(domain, env.Payload), env.Sig) {
		return nil, ErrBadSignature
	}
	if env.Payload == nil {
		env.Payload = []byte{}
	}
	return env.Payload, nil
}

// EnvelopeKeyID returns the key id an envelope claims without verifying
// anything, so a holder of several keys (rotation) can pick the right one.
func EnvelopeKeyID(env []byte) ([KeyIDSize]byte, error) {
	if len(env) > MaxEnvelopeSize {
		return [KeyIDSize]byte{}, fmt.Errorf("%w: envelope of %d bytes", ErrMalformed, len(env))
	}
	var e envelope
	if err := decMode.Unmarshal(env, &e); err != nil {
		return [KeyIDSize]byte{}, fmt.Errorf("%w: envelope: %w", ErrMalformed, err)
	}
	if len(e.KeyID) != KeyIDSize {
		return [KeyIDSize]byte{}, fmt.Errorf("%w: key id %d bytes", ErrMalformed, len(e.KeyID))
	}
	return [KeyIDSize]byte(e.KeyID), nil
}
