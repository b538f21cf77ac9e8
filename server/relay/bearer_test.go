package relay

import (
	"net/http/httptest"
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
