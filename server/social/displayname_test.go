package social

import (
	"errors"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/safetext"
)

// TestCheckDisplayName: display names are refused for the bidirectional
// overrides, embeddings and isolates and the control characters the
// catalog refuses (safetext, named in the error), and for any other
// format character, line or paragraph separator, or when only white
// space; names in any script pass.
func TestCheckDisplayName(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error  // also ErrBadProfile; nil: accepted
		text string // in the error
	}{
		{"Ada L.", nil, ""},
		{"Björk Guðmundsdóttir", nil, ""},
		{"فيروز", nil, ""},
		{"", nil, ""},
		{"ada\u202eevil", safetext.ErrBidi, "U+202E (RIGHT-TO-LEFT OVERRIDE)"},
		{"\u2067ada", safetext.ErrBidi, "U+2067"},
		{"ada\x1b[2J", safetext.ErrControl, "U+001B"},
		{"ada\u200b", ErrBadProfile, "format character U+200B"},
		{"ada\u200f", ErrBadProfile, "format character U+200F"},
		{strings.Repeat("x", MaxDisplayName+1), ErrBadProfile, "over 64 bytes"},
		{"Ada Lovelace ", nil, ""},
		{"ada bob", ErrBadProfile, "separator U+2028"},
		{" ", ErrBadProfile, "separator U+2029"},
		{"   ", ErrBadProfile, "only white space"},
		{"　	", safetext.ErrControl, "U+0009"},
		{" 　", ErrBadProfile, "only white space"},
	} {
		err := checkDisplayName(c.in)
		switch {
		case c.want == nil && err != nil:
			t.Errorf("%q: %v, want accepted", c.in, err)
		case c.want != nil && (!errors.Is(err, ErrBadProfile) || !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text)):
			t.Errorf("%q: %v, want %v saying %q", c.in, err, c.want, c.text)
		}
	}
}
