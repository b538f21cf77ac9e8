// Package cborx holds Segue's CBOR modes (fxamacker/cbor), defined once:
// the core deterministic encoding every signed or stored value uses, and
// decoding modes built from explicit size limits, lenient for a package's
// own store records or strict for untrusted bytes.
//
//	var dec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 16, MaxMapPairs: 64}.StrictDecMode()
//
//	b, err := cborx.Marshal(v)  // deterministic: same value, same bytes
//	err = dec.Unmarshal(b, &v)  // duplicate keys, indefinite lengths and tags refused
//
// A package keeps a mode of its own only where its options differ on
// purpose (for instance the automerge-repo wire format, which must accept
// what JavaScript encoders write); it says why next to that mode.
package cborx

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// enc is the core deterministic encoding mode (RFC 8949 §4.2.1: shortest
// forms, map keys sorted bytewise, no indefinite lengths).
var enc = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(fmt.Sprintf("cborx: core deterministic options: %v", err)) // static options; cannot fail
	}
	return m
}()

// EncMode returns the shared core deterministic encoding mode. It is safe
// for concurrent use.
func EncMode() cbor.EncMode { return enc }

// Marshal encodes v with the core deterministic encoding: equal values give
// equal bytes, which signatures and content hashes rely on. The caller owns
// the returned slice.
func Marshal(v any) ([]byte, error) { return enc.Marshal(v) }

// Limits bound what a decoder accepts, so hostile or corrupt input cannot
// make it allocate without bound. A zero field means fxamacker/cbor's
// default (32 levels, 131,072 elements, 131,072 pairs). Each value must be
// within fxamacker/cbor's ranges (levels 4–65,535, elements and pairs
// 16–2,147,483,647); the modes are built once at package initialisation
// from constants, so a value out of range is a programming error and the
// mode constructors panic on it.
type Limits struct {
	MaxNestedLevels  int
	MaxArrayElements int
	MaxMapPairs      int
}

// DecMode returns a decoding mode with only l's limits: for a package's
// own store records, which it wrote itself with Marshal. Duplicate map keys
// (the last wins), indefinite lengths and tags are accepted, unknown
// fields ignored.
func (l Limits) DecMode() cbor.DecMode {
	return l.mode(cbor.DecOptions{})
}

// StrictDecMode returns a decoding mode for untrusted bytes: l's limits,
// and duplicate map keys, indefinite lengths, tags and invalid UTF-8 are
// errors. Unknown fields are ignored (so a newer peer may add some).
func (l Limits) StrictDecMode() cbor.DecMode {
	return l.mode(strict())
}

// ClosedDecMode is StrictDecMode that also refuses unknown struct fields:
// for signed payloads, whose every field must be understood.
func (l Limits) ClosedDecMode() cbor.DecMode {
	o := strict()
	o.ExtraReturnErrors = cbor.ExtraDecErrorUnknownField
	return l.mode(o)
}

func strict() cbor.DecOptions {
	return cbor.DecOptions{
		DupMapKey:   cbor.DupMapKeyEnforcedAPF,
		IndefLength: cbor.IndefLengthForbidden,
		TagsMd:      cbor.TagsForbidden,
		UTF8:        cbor.UTF8RejectInvalid,
	}
}

func (l Limits) mode(o cbor.DecOptions) cbor.DecMode {
	o.MaxNestedLevels, o.MaxArrayElements, o.MaxMapPairs = l.MaxNestedLevels, l.MaxArrayElements, l.MaxMapPairs
	m, err := o.DecMode()
	if err != nil {
		panic(fmt.Sprintf("cborx: invalid limits %+v: %v", l, err))
	}
	return m
}
