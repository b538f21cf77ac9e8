package docs

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mr-tron/base58"
)

// ErrInvalidDocumentID is returned by ParseDocumentID and ParseURL for a
// string that is not a bs58check-encoded 16-byte document id.
var ErrInvalidDocumentID = errors.New("docs: invalid document id")

// URLPrefix is the scheme prefix of a document URL, as automerge-repo
// writes it.
const URLPrefix = "automerge:"

// DocumentID identifies an Automerge document, automerge-repo style: 16
// random bytes (a UUID's worth), shown as bs58check. The zero value is the
// "no document" id; IsZero reports it. DocumentID is comparable and may be
// used as a map key.
type DocumentID [16]byte

// NewDocumentID returns a fresh random id read from r (crypto/rand.Reader
// in production, a seeded reader in simulations).
func NewDocumentID(r io.Reader) (DocumentID, error) {
	var id DocumentID
	if _, err := io.ReadFull(r, id[:]); err != nil {
		return DocumentID{}, fmt.Errorf("docs: read random document id: %w", err)
	}
	return id, nil
}

// DeriveDocumentID returns a deterministic id for a well-known document:
// the first 16 bytes of SHA-256(namespace ‖ 0x00 ‖ name). Every device of
// a user derives the same library id this way (see LibraryID).
func DeriveDocumentID(namespace, name string) DocumentID {
	h := sha256.New()
	h.Write([]byte(namespace))
	h.Write([]byte{0})
	h.Write([]byte(name))
	var id DocumentID
	copy(id[:], h.Sum(nil))
	return id
}

// IsZero reports whether id is the zero id.
func (id DocumentID) IsZero() bool { return id == DocumentID{} }

// String returns the bs58check form: base58 of the 16 bytes followed by
// the first 4 bytes of SHA-256(SHA-256(bytes)).
func (id DocumentID) String() string {
	buf := make([]byte, 0, 20)
	buf = append(buf, id[:]...)
	sum := checksum(id[:])
	buf = append(buf, sum[:]...)
	return base58.Encode(buf)
}

// URL returns "automerge:" followed by String().
func (id DocumentID) URL() string { return URLPrefix + id.String() }

// MarshalText implements encoding.TextMarshaler with the bs58check form.
func (id DocumentID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts what
// ParseDocumentID accepts.
func (id *DocumentID) UnmarshalText(b []byte) error {
	v, err := ParseDocumentID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// ParseDocumentID parses the bs58check form produced by String. It
// rejects strings that do not decode to exactly 16 bytes plus a matching
// 4-byte checksum.
func ParseDocumentID(s string) (DocumentID, error) {
	if s == "" || len(s) > 40 {
		return DocumentID{}, fmt.Errorf("%w: length %d", ErrInvalidDocumentID, len(s))
	}
	raw, err := base58.Decode(s)
	if err != nil {
		return DocumentID{}, fmt.Errorf("%w: %v", ErrInvalidDocumentID, err)
	}
	if len(raw) != 20 {
		return DocumentID{}, fmt.Errorf("%w: %d bytes, want 20", ErrInvalidDocumentID, len(raw))
	}
	sum := checksum(raw[:16])
	if !bytes.Equal(sum[:], raw[16:]) {
		return DocumentID{}, fmt.Errorf("%w: bad checksum", ErrInvalidDocumentID)
	}
	var id DocumentID
	copy(id[:], raw[:16])
	return id, nil
}

// ParseURL parses "automerge:<id>" (the prefix is required).
func ParseURL(u string) (DocumentID, error) {
	rest, ok := strings.CutPrefix(u, URLPrefix)
	if !ok {
		return DocumentID{}, fmt.Errorf("%w: missing %q prefix", ErrInvalidDocumentID, URLPrefix)
	}
	return ParseDocumentID(rest)
}

func checksum(b []byte) [4]byte {
	first := sha256.Sum256(b)
	second := sha256.Sum256(first[:])
	var out [4]byte
	copy(out[:], second[:4])
	return out
}
