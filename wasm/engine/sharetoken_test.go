package engine

import (
	"regexp"
	"strings"
	"testing"
)

// shareTokenRE is the share token's grammar; isShareToken must accept
// exactly what it matches.
var shareTokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

func TestIsShareToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"AAAAAAAAAAAAAAAAAAAAAA", true},
		{"abcdefghijklmnopqrstuv", true},
		{"0123456789_-xyzXYZ_-09", true},
		{"", false},
		{strings.Repeat("a", 21), false},
		{strings.Repeat("a", 23), false},
		{"abcdefghijklmnopqrstu=", false},
		{"abcdefghijklmnopqrst/u", false},
		{"abcdefghijklmnopqrst+u", false},
		{"abcdefghijklmnopqrs\x00uv", false},
		{"abcdefghijklmnopqrstué", false}, // 22 bytes, one of them not ASCII
		{"../../../../../v1/me/x", false},
	} {
		if got := isShareToken(tc.in); got != tc.want {
			t.Errorf("isShareToken(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// FuzzIsShareToken checks isShareToken against the grammar's regexp.
func FuzzIsShareToken(f *testing.F) {
	f.Add("AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("abcdefghijklmnopqrstu=")
	f.Add("abcdefghijklmnopqrstué")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := isShareToken(s), shareTokenRE.MatchString(s); got != want {
			t.Fatalf("isShareToken(%q) = %v, regexp says %v", s, got, want)
		}
	})
}
