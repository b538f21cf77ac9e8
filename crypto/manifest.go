package crypto

import (
	"bytes"
	"crypto/ed25519"
	"fmt"

	"github.com/segue-fm/segue/core/model"
)

// ManifestDomain is the signing domain of manifest envelopes.
const ManifestDomain = "segue-manifest-v1"

// MaxManifestSize bounds a manifest envelope OpenManifest accepts.
const MaxManifestSize = 4 << 20

// EncodeManifest returns m in deterministic CBOR (core deterministic
// encoding): equal manifests always encode to equal bytes. It validates m
// first. The result is owned by the caller.
func EncodeManifest(m *model.Manifest) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("crypto: encode manifest: %w", err)
	}
	b, err := encMode.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("crypto: encode manifest: %w", err)
	}
	return b, nil
}

// SignManifest validates m and returns its signed envelope (see Sign with
// ManifestDomain), owned by the caller.
func SignManifest(priv ed25519.PrivateKey, m *model.Manifest) ([]byte, error) {
	payload, err := EncodeManifest(m)
	if err != nil {
		return nil, err
	}
	return Sign(priv, ManifestDomain, payload)
}

// OpenManifest verifies a manifest envelope against the catalog public key
// and decodes it. It rejects, with errors matching ErrMalformed, envelopes
// over MaxManifestSize, CBOR with duplicate keys, indefinite lengths, tags,
// unknown fields or trailing bytes, and payloads that are not in
// deterministic encoding; signature failures match ErrUnknownKey or
// ErrBadSignature; a manifest failing Validate matches both ErrMalformed
// and model.ErrBadManifest. The returned manifest is owned by the caller.
func OpenManifest(pub ed25519.PublicKey, env []byte) (*model.Manifest, error) {
	payload, err := verify(pub, ManifestDomain, env, MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("open manifest: %w", err)
	}
	return decodeManifest(payload)
}

func decodeManifest(payload []byte) (*model.Manifest, error) {
	var m model.Manifest
	if err := decMode.Unmarshal(payload, &m); err != nil {
		return nil, fmt.Errorf("%w: manifest: %w", ErrMalformed, err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	again, err := encMode.Marshal(&m)
	if err != nil || !bytes.Equal(again, payload) {
		return nil, fmt.Errorf("%w: manifest not in deterministic encoding", ErrMalformed)
	}
	return &m, nil
}
