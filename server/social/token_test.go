package social

import (
	"encoding/base64"
	"testing"
)

// TestTokenNeverLooksLikeAFlag: of 4,096 fresh tokens (about 64 would
// start with '-' if drawn plainly) none does, each decodes to
// TokenBytes random bytes, and none repeats.
func TestTokenNeverLooksLikeAFlag(t *testing.T) {
	seen := map[string]bool{}
	for range 4096 {
		tok, err := newToken()
		if err != nil {
			t.Fatal(err)
		}
		if tok[0] == '-' {
			t.Fatalf("token %q starts with '-': `segue share revoke %s` reads it as a flag", tok, tok)
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != TokenBytes {
			t.Fatalf("token %q: %d bytes, %v", tok, len(b), err)
		}
		if seen[tok] {
			t.Fatalf("token %q drawn twice", tok)
		}
		seen[tok] = true
	}
}
