package model

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestValidUserID: the one account-name rule the relay, the CLI and the
// documents share (it replaced a regular expression in each) takes
// exactly the names of the documented syntax, ^[a-z0-9][a-z0-9_.-]{0,63}$:
// a table of edges, then seeded random strings over the alphabet and its
// neighbours compared with the expression.
func TestValidUserID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"", false},
		{"a", true},
		{"0", true},
		{"ada.lovelace_1-x", true},
		{"_ada", false},
		{".ada", false},
		{"-ada", false},
		{"Ada", false},
		{"ada smith", false},
		{"../x", false},
		{"ada\n", false},
		{"ad\u00e9", false},
		{strings.Repeat("a", MaxUserIDLen), true},
		{strings.Repeat("a", MaxUserIDLen+1), false},
	} {
		if got := ValidUserID(UserID(c.in)); got != c.want {
			t.Errorf("ValidUserID(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	syntax := regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	const alphabet = "az09_.-A/ \x00\xc3\xa9"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		b := make([]byte, rng.IntN(MaxUserIDLen+3))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := ValidUserID(UserID(b)), syntax.Match(b); got != want {
			t.Fatalf("ValidUserID(%q) = %v, the syntax says %v", b, got, want)
		}
	}
}
