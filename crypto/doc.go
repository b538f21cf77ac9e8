// Package crypto holds Segue's cryptography: device identities, content
// encryption, blob hashes, signed manifests and key storage. Everything is
// a pure function or an immutable value except the KeyStore
// implementations, which touch disk.
//
// Content encryption (docs/ARCHITECTURE.md §3): each (track, tier) has a
// random ContentKey; blob i (header = 0, chunk c = c+1) is AES-128-CTR
// with counter block BE uint64(i) ‖ 0⁸, so any byte range of any blob
// decrypts alone:
//
//	key, _ := crypto.NewContentKey(rand.Reader)
//	enc := crypto.EncryptBlob(key, 1, chunk0)           // ingest
//	ref := model.BlobRef{Size: int64(len(enc)), SHA256: crypto.BlobHash(enc)}
//	crypto.XORKeyStream(key, 1, 4096, out, enc[4096:]) // player, a Range
//
// Manifests are deterministic CBOR in a signed envelope:
//
//	env, _ := crypto.SignManifest(catalogPriv, &m)     // relay
//	m2, err := crypto.OpenManifest(catalogPub, env)    // device; errors.Is(err, crypto.ErrBadSignature) …
//
// Devices have an Identity (Ed25519 + X25519 HPKE) kept in a KeyStore:
//
//	ks, _ := crypto.NewFileKeyStore(filepath.Join(dataDir, "keys"), crypto.DefaultFileKeyStoreOptions())
//	id, _ := crypto.LoadOrCreateIdentity(ctx, ks, rand.Reader)
//	wrapped, _ := crypto.WrapContentKey(id.HPKEPublic(), crypto.StreamKeyInfo(track, tier), key) // relay
//	key, err := id.UnwrapContentKey(crypto.StreamKeyInfo(track, tier), wrapped)                 // device
package crypto
