package relay

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBearerIs(t *testing.T) {
	for _, tc := range []struct {
		header, token string
		want          bool
	}{
		{"Bearer s3cret", "s3cret", true},
		{"bearer  s3cret ", "s3cret", true},
		{"Bearer s3cret", "other", false},
		{"Bearer ", "", false},
		{"", "", false},
		{"Basic s3cret", "s3cret", false},
		{"Bearer s3cretX", "s3cret", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		if got := BearerIs(r, tc.token); got != tc.want {
			t.Errorf("BearerIs(%q, %q) = %v, want %v", tc.header, tc.token, got, tc.want)
		}
	}
}

// TestCheckAdminToken: an admin token is empty (no admin) or at least
// MinAdminTokenLen printable ASCII characters without spaces; a shorter
// one or one a trimmed bearer header cannot carry wraps
// ErrWeakAdminToken. NewAdminToken's tokens pass and differ.
func TestCheckAdminToken(t *testing.T) {
	long := strings.Repeat("k", MinAdminTokenLen)
	for _, tc := range []struct {
		tok string
		ok  bool
	}{
		{"", true},
		{long, true},
		{"x", false},
		{long[1:], false},
		{" " + long, false},
		{long + " ", false},
		{long[:10] + " " + long[10:], false},
		{long + "\t", false},
		{long + "\x00", false},
		{long + "\x7f", false},
		{long + "é", false},
		{"~!#$%&'()*+,-./:;<=>?@[]^_`{|}", true},
	} {
		err := CheckAdminToken(tc.tok)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrWeakAdminToken)) {
			t.Errorf("CheckAdminToken(%q) = %v, want ok %v", tc.tok, err, tc.ok)
		}
	}
	a, b := NewAdminToken(), NewAdminToken()
	if err := CheckAdminToken(a); err != nil || a == b || len(a) != 43 {
		t.Errorf("NewAdminToken: %q, %q: %v", a, b, err)
	}
}
