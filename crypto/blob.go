package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// ContentKey is the AES-128 key of one (track, tier) stream. It must never
// be written to disk unsealed.
type ContentKey [16]byte

// ErrShortRandom is returned when a random source cannot supply enough
// bytes.
var ErrShortRandom = errors.New("crypto: random source failed")

// NewContentKey reads a fresh content key from rand (crypto/rand.Reader in
// production, a seeded reader in tests).
func NewContentKey(rand io.Reader) (ContentKey, error) {
	var k ContentKey
	if _, err := io.ReadFull(rand, k[:]); err != nil {
		return ContentKey{}, fmt.Errorf("%w: %w", ErrShortRandom, err)
	}
	return k, nil
}

// blobStream returns the AES-128-CTR keystream of blob blobIndex positioned
// at byte offset (docs/ARCHITECTURE.md §3): the initial counter block is
// BE uint64(blobIndex) ‖ 8 zero bytes, advanced by offset/16 blocks, and the
// first offset%16 keystream bytes are discarded.
func blobStream(key ContentKey, blobIndex uint64, offset int64) cipher.Stream {
	if offset < 0 {
		panic("crypto: negative blob offset")
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err) // unreachable: the key is always 16 bytes
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[:8], blobIndex)
	// offset/16 < 2^59, so adding it to the zero low half never carries
	// into the blob index.
	binary.BigEndian.PutUint64(iv[8:], uint64(offset/aes.BlockSize))
	s := cipher.NewCTR(block, iv[:])
	if skip := offset % aes.BlockSize; skip != 0 {
		var junk [aes.BlockSize]byte
		s.XORKeyStream(junk[:skip], junk[:skip])
	}
	return s
}

// XORKeyStream encrypts or decrypts (the operation is its own inverse)
// src into dst, where src is the bytes of blob blobIndex starting at byte
// offset. Any range of any blob can be processed on its own, so a player
// can decrypt an HTTP Range response directly. dst and src may overlap
// exactly. It panics, like cipher.Stream, if len(dst) < len(src) or
// offset < 0: those are programming errors, not bad input.
func XORKeyStream(key ContentKey, blobIndex uint64, offset int64, dst, src []byte) {
	blobStream(key, blobIndex, offset).XORKeyStream(dst, src)
}

// EncryptBlob returns the whole blob blobIndex encrypted (or decrypted)
// under key, in a new slice owned by the caller.
func EncryptBlob(key ContentKey, blobIndex uint64, plaintext []byte) []byte {
	out := make([]byte, len(plaintext))
	XORKeyStream(key, blobIndex, 0, out, plaintext)
	return out
}

// NewBlobReader returns a reader yielding r's bytes, the start of blob
// blobIndex, XORed with its keystream: it decrypts an encrypted blob read
// from the network (or encrypts a plaintext one) as it streams.
func NewBlobReader(key ContentKey, blobIndex uint64, r io.Reader) io.Reader {
	return NewBlobRangeReader(key, blobIndex, 0, r)
}

// NewBlobRangeReader is NewBlobReader for a stream that starts at byte
// offset of the blob (the body of an HTTP Range request). It panics if
// offset < 0.
func NewBlobRangeReader(key ContentKey, blobIndex uint64, offset int64, r io.Reader) io.Reader {
	return &cipher.StreamReader{S: blobStream(key, blobIndex, offset), R: r}
}

// BlobHash returns the SHA-256 of b: the hash of an encrypted blob as the
// manifest lists it.
func BlobHash(b []byte) [32]byte { return sha256.Sum256(b) }

// HashHex returns h as lowercase hex, the form used in keys and ETags.
func HashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }
