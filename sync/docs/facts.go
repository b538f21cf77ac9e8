package docs

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/automerge/automerge-go"
)

// ErrBadFacts is returned by ParseFacts for bytes that are not an
// encoded Facts.
var ErrBadFacts = errors.New("docs: bad document facts")

// MaxFactsField bounds each string of an encoded Facts (kind, name): a
// longer one is cut at this many bytes when encoding and refused when
// parsing.
const MaxFactsField = 4096

// factsVersion is the first byte of an encoded Facts.
const factsVersion = 1

// Facts are the few fields of a document the relay reads without loading
// the document: its kind, and for a playlist its name and public flag.
// The relay's repository stores them next to the document, written in the
// same transaction as every change that alters them (repo.WithFacts), so
// that indexing every document at start costs a key read each instead of
// an automerge load.
type Facts struct {
	Kind   Kind // "" for a document without a type (not created yet)
	Name   string
	Public bool
}

// ReadFacts reads the Facts of doc.
func ReadFacts(doc *automerge.Doc) Facts {
	k, err := KindOf(doc)
	if err != nil {
		return Facts{}
	}
	f := Facts{Kind: k}
	if k != KindPlaylist {
		return f
	}
	root := doc.RootMap()
	f.Name = strField(root, "name")
	if v, err := root.Get("public"); err == nil && v.Kind() == automerge.KindBool {
		f.Public = v.Bool()
	}
	return f
}

// EncodeFacts returns the encoded Facts of doc (ReadFacts, then
// Facts.Encode): the function the relay gives repo.WithFacts.
func EncodeFacts(doc *automerge.Doc) []byte { return ReadFacts(doc).Encode() }

// UpdateFacts is EncodeFacts for a document whose ACLFields (its type and
// public flag among them) are known unchanged since prev, its encoded
// Facts, was computed: it reads only a playlist's name (one read instead
// of three), nothing for another kind. A prev that does not parse is
// read in full. The function the relay gives repo.WithFactsUpdate.
func UpdateFacts(prev []byte, doc *automerge.Doc) []byte {
	f, err := ParseFacts(prev)
	if err != nil {
		return EncodeFacts(doc)
	}
	if f.Kind == KindPlaylist {
		f.Name = strField(doc.RootMap(), "name")
	}
	return f.Encode()
}

// Encode returns f's binary form: a version byte, a flags byte (bit 0:
// public), then kind and name, each as a uvarint length and its bytes
// (each cut to MaxFactsField bytes).
func (f Facts) Encode() []byte {
	kind, name := cut(string(f.Kind)), cut(f.Name)
	b := make([]byte, 0, 2+2*binary.MaxVarintLen16+len(kind)+len(name))
	flags := byte(0)
	if f.Public {
		flags = 1
	}
	b = append(b, factsVersion, flags)
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	b = binary.AppendUvarint(b, uint64(len(name)))
	return append(b, name...)
}

func cut(s string) string {
	if len(s) > MaxFactsField {
		return s[:MaxFactsField]
	}
	return s
}

// ParseFacts decodes b, written by Facts.Encode; anything else (another
// version, unknown flags, a length past the end or past MaxFactsField,
// trailing bytes) fails with ErrBadFacts.
func ParseFacts(b []byte) (Facts, error) {
	if len(b) < 2 || b[0] != factsVersion {
		return Facts{}, fmt.Errorf("%w: no version %d header", ErrBadFacts, factsVersion)
	}
	if b[1]&^1 != 0 {
		return Facts{}, fmt.Errorf("%w: flags %#x", ErrBadFacts, b[1])
	}
	f := Facts{Public: b[1] == 1}
	rest := b[2:]
	field := func(what string) (string, error) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > MaxFactsField || n > uint64(len(rest)-k) {
			return "", fmt.Errorf("%w: %s length", ErrBadFacts, what)
		}
		s := string(rest[k : k+int(n)])
		rest = rest[k+int(n):]
		return s, nil
	}
	kind, err := field("kind")
	if err != nil {
		return Facts{}, err
	}
	if f.Name, err = field("name"); err != nil {
		return Facts{}, err
	}
	if len(rest) != 0 {
		return Facts{}, fmt.Errorf("%w: %d trailing bytes", ErrBadFacts, len(rest))
	}
	f.Kind = Kind(kind)
	return f, nil
}
