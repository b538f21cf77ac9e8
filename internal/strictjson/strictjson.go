// Package strictjson holds the checks encoding/json does not make of JSON
// text from outside, shared by the relay's request bodies
// (relay.DecodeJSON) and catalog import lines (server/metadata), and the
// message (Problem) that names a wrong value by its JSON path and the JSON
// value wanted, for those and for files read from users (ingest sidecars,
// segue fraud scan --accounts).
package strictjson

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrText is what CheckUTF8's errors wrap.
var ErrText = errors.New("strictjson: invalid text")

// CheckUTF8 reports JSON text b that is not UTF-8 (RFC 8259 §8.1) or
// whose \u escapes encode half a surrogate pair (§8.2: not a Unicode
// character); encoding/json turns both into U+FFFD without a word. b
// must be syntactically valid JSON (checked first), so a backslash only
// occurs inside strings, starting an escape. Its errors wrap ErrText and
// name the escape.
func CheckUTF8(b []byte) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not valid UTF-8", ErrText)
	}
	var high uint64 // the last escape when it was a high surrogate, else 0
	unpaired := func(r uint64) error {
		return fmt.Errorf("%w: unpaired UTF-16 surrogate escape \\u%04x", ErrText, r)
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			if high != 0 {
				return unpaired(high)
			}
			continue
		}
		i++ // the escape's letter
		if i >= len(b) || b[i] != 'u' || i+4 >= len(b) {
			if high != 0 {
				return unpaired(high)
			}
			continue
		}
		r, err := strconv.ParseUint(string(b[i+1:i+5]), 16, 16)
		if err != nil {
			return fmt.Errorf("%w: bad \\u escape %q", ErrText, b[i-1:i+5])
		}
		i += 4
		switch {
		case r >= 0xd800 && r < 0xdc00:
			if high != 0 {
				return unpaired(high)
			}
			high = r
		case r >= 0xdc00 && r < 0xe000:
			if high == 0 {
				return unpaired(r)
			}
			high = 0
		default:
			if high != 0 {
				return unpaired(high)
			}
		}
	}
	if high != 0 {
		return unpaired(high)
	}
	return nil
}
