package social

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segue-fm/segue/core/model"
)

// FuzzInputs feeds arbitrary bytes to the validators of every
// client-controlled string the social routes take (path user names,
// share tokens, display names, play contexts): none panics, and what
// they accept has the documented shape.
func FuzzInputs(f *testing.F) {
	for _, s := range []string{"ada", "", "Ada", "a/b", strings.Repeat("a", 65), "rks-xPrWpSKZ5ntlGmdFiQ", "<script>", "\x00", "é", "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if u, err := checkUser(s); err == nil && (len(u) == 0 || len(u) > 64 || strings.ContainsAny(string(u), "/ <>\"'")) {
			t.Fatalf("accepted user %q", s)
		}
		if err := checkToken(s); err == nil && len(s) != 22 {
			t.Fatalf("accepted token %q", s)
		}
		if err := checkDisplayName(s); err == nil && (len(s) > MaxDisplayName || !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n\r\u202e")) {
			t.Fatalf("accepted display name %q", s)
		}
		for _, kind := range []string{"", "album", "playlist", s} {
			if err := checkContext(model.PlayContext{Kind: kind, ID: s}); err == nil && len(s) > maxContextID {
				t.Fatalf("accepted context id of %d bytes", len(s))
			}
		}
	})
}
