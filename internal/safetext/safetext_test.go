package safetext

import (
	"errors"
	"strings"
	"testing"
)

// TestCheck: every bidirectional embedding, override and isolate
// character and every control character is refused and named; text in
// any script, with the implicit direction marks or other format
// characters, passes.
func TestCheck(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
		text string // in the error
	}{
		{"AC/DC", nil, ""},
		{"Björk", nil, ""},
		{"فيروز", nil, ""},
		{"שלום 2024\u200f", nil, ""}, // RIGHT-TO-LEFT MARK
		{"a\u200eb\u061cc", nil, ""}, // LEFT-TO-RIGHT MARK, ARABIC LETTER MARK
		{"👩\u200d💻", nil, ""},        // ZERO WIDTH JOINER
		{"", nil, ""},
		{"evil\u202egnp.exe", ErrBidi, "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"\u202aa", ErrBidi, "U+202A (LEFT-TO-RIGHT EMBEDDING)"},
		{"\u202bb", ErrBidi, "U+202B"},
		{"c\u202c", ErrBidi, "U+202C"},
		{"\u202dd", ErrBidi, "U+202D"},
		{"\u2066x\u2069", ErrBidi, "U+2066 (LEFT-TO-RIGHT ISOLATE)"},
		{"\u2067x", ErrBidi, "U+2067"},
		{"\u2068x", ErrBidi, "U+2068"},
		{"x\u2069", ErrBidi, "U+2069 (POP DIRECTIONAL ISOLATE)"},
		{"bell\a", ErrControl, "U+0007"},
		{"tab\t", ErrControl, "U+0009"},
		{"new\nline", ErrControl, "U+000A"},
		{"del\x7f", ErrControl, "U+007F"},
		{"c1\u0085", ErrControl, "U+0085"},
		{"esc\x1b[31m", ErrControl, "U+001B"},
	} {
		err := Check(c.in)
		if c.want == nil {
			if err != nil {
				t.Errorf("Check(%q) = %v, want nil", c.in, err)
			}
			continue
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
			t.Errorf("Check(%q) = %v, want %v naming %s", c.in, err, c.want, c.text)
		}
	}
	for r := rune(0x202A); r <= 0x2069; r++ {
		if _, named := bidiNames[r]; named != (r <= 0x202E || r >= 0x2066) {
			t.Errorf("U+%04X: in the table %v", r, named)
		}
	}
}

// TestCut: at most n bytes, never half a character.
func TestCut(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 64, "short"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is 2 bytes: not cut in half
		{"😀x", 3, ""},  // a 4-byte rune at the start
		{"😀x", 4, "😀"},
		{"", 0, ""},
	} {
		if got := Cut(c.s, c.n); got != c.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

// TestQuote: a Go string literal of at most MaxQuoted bytes of s, marked
// with "…" when cut, never cut inside a character.
func TestQuote(t *testing.T) {
	x64 := strings.Repeat("x", MaxQuoted)
	for _, c := range []struct{ s, want string }{
		{"nope", `"nope"`},
		{"", `""`},
		{"a\x00\n", `"a\x00\n"`},
		{x64, `"` + x64 + `"`},
		{x64 + "y", `"` + x64 + `"…`},
		{x64[1:] + "é", `"` + x64[1:] + `"…`}, // é would end at byte 65
		{strings.Repeat("x", 5000), `"` + x64 + `"…`},
	} {
		if got := Quote(c.s); got != c.want {
			t.Errorf("Quote(%.80q) = %q, want %q", c.s, got, c.want)
		}
	}
}
