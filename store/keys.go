package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// MaxKeySize is the longest key any backend accepts. Badger's own limit is
// higher; the common bound keeps both backends interchangeable.
const MaxKeySize = 4096

// ErrInvalidKey is returned for an empty key, a key longer than MaxKeySize
// or a key in Badger's reserved "!badger!" namespace.
var ErrInvalidKey = errors.New("store: invalid key")

// ErrBadInt is returned by the integer decoders when the input has the
// wrong length.
var ErrBadInt = errors.New("store: bad fixed-width integer")

// Sep separates key components (see docs/ARCHITECTURE.md §5).
const Sep = '/'

// CheckKey returns a wrapped ErrInvalidKey when key cannot be stored. Both
// backends call it on every write, so callers need not.
func CheckKey(key []byte) error {
	switch {
	case len(key) == 0:
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeySize:
		return fmt.Errorf("%w: %d bytes", ErrInvalidKey, len(key))
	case bytes.HasPrefix(key, []byte("!badger!")):
		return fmt.Errorf("%w: reserved prefix", ErrInvalidKey)
	}
	return nil
}

// Key joins parts with '/' into a new key owned by the caller. Parts are
// ids or fixed-width integers from U64/U32; ids must not contain '/'.
//
//	store.Key("cat", "track", id)            // "cat/track/<id>"
//	store.Key("cache", "lru", store.U64(n))  // "cache/lru/<8 bytes BE>"
func Key(parts ...string) []byte {
	return []byte(strings.Join(parts, string(Sep)))
}

// Prefix is Key with a trailing '/', for iterating everything below a
// namespace without matching siblings that merely share a leading string
// ("cat/track/" does not match "cat/tracks/…").
func Prefix(parts ...string) []byte {
	return append(Key(parts...), Sep)
}

// U64 encodes v as 8 big-endian bytes in a string, for use as a Key part:
// byte order of the encodings is numeric order.
func U64(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return string(b[:])
}

// U32 encodes v as 4 big-endian bytes in a string, for use as a Key part.
func U32(v uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return string(b[:])
}

// Uint64 decodes 8 big-endian bytes, or returns ErrBadInt.
func Uint64(b []byte) (uint64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("%w: %d bytes, want 8", ErrBadInt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Uint32 decodes 4 big-endian bytes, or returns ErrBadInt.
func Uint32(b []byte) (uint32, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("%w: %d bytes, want 4", ErrBadInt, len(b))
	}
	return binary.BigEndian.Uint32(b), nil
}

// PrefixEnd returns the smallest key greater than every key with the given
// prefix, or nil when no such key exists (the prefix is empty or all 0xff
// bytes). The result is a new slice owned by the caller.
func PrefixEnd(prefix []byte) []byte {
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
