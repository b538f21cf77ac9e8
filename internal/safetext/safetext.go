// Package safetext checks text that people see, such as names, titles and
// labels, for characters that change how it or the text displayed after
// it looks: control characters (C0, DEL and C1) and the Unicode
// bidirectional formatting characters that embed, override or isolate a
// direction (U+202A–U+202E, U+2066–U+2069). A title holding U+202E
// RIGHT-TO-LEFT OVERRIDE shows the rest of itself, and what follows it on
// the line, reversed. The implicit direction marks (U+200E, U+200F,
// U+061C) are allowed: they reorder nothing, and names mixing scripts use
// them.
//
// The relay's catalog import (server/metadata), ingest (server/ingest)
// and profile display names (server/social) refuse such text with Check.
package safetext

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Errors of Check.
var (
	// ErrControl: a control character (unicode.IsControl).
	ErrControl = errors.New("safetext: control character")
	// ErrBidi: a bidirectional embedding, override or isolate character.
	ErrBidi = errors.New("safetext: bidirectional formatting character")
)

// bidiNames names the bidirectional formatting characters Check refuses.
var bidiNames = map[rune]string{
	0x202A: "LEFT-TO-RIGHT EMBEDDING",
	0x202B: "RIGHT-TO-LEFT EMBEDDING",
	0x202C: "POP DIRECTIONAL FORMATTING",
	0x202D: "LEFT-TO-RIGHT OVERRIDE",
	0x202E: "RIGHT-TO-LEFT OVERRIDE",
	0x2066: "LEFT-TO-RIGHT ISOLATE",
	0x2067: "RIGHT-TO-LEFT ISOLATE",
	0x2068: "FIRST STRONG ISOLATE",
	0x2069: "POP DIRECTIONAL ISOLATE",
}

// Check returns nil when s holds no control character and no
// bidirectional embedding, override or isolate character; else an error
// wrapping ErrControl or ErrBidi that names the first one (U+202E
// (RIGHT-TO-LEFT OVERRIDE)).
func Check(s string) error {
	for _, r := range s {
		if unicode.IsControl(r) {
			return fmt.Errorf("%w U+%04X", ErrControl, r)
		}
		if name, ok := bidiNames[r]; ok {
			return fmt.Errorf("%w U+%04X (%s)", ErrBidi, r, name)
		}
	}
	return nil
}

// Cut returns s cut to at most n bytes on a rune boundary (s itself when
// it is no longer), so a message that quotes the start of long input
// does not end in half a character.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// MaxQuoted is the most bytes of client input a message quotes (Quote):
// the relay's error answers and the catalog's not-found errors, which
// those answers carry, echo no more.
const MaxQuoted = 64

// Quote returns s as a Go string literal (strconv.Quote) of at most its
// first MaxQuoted bytes, cut on a rune boundary and followed by "…" when
// cut.
func Quote(s string) string {
	if len(s) <= MaxQuoted {
		return strconv.Quote(s)
	}
	return strconv.Quote(Cut(s, MaxQuoted)) + "…"
}
