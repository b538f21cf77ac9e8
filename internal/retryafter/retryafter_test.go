package retryafter

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		v    string
		want time.Duration
		ok   bool
	}{
		{"delta", "7", 7 * time.Second, true},
		{"delta with spaces", " 12 ", 12 * time.Second, true},
		{"zero", "0", 0, true},
		{"a day", "86400", 24 * time.Hour, true},
		{"delta past a year", "99999999999", Longest, true},
		{"delta past uint64", "99999999999999999999999999", Longest, true},
		{"date", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"RFC 850 date", now.Add(30 * time.Second).Format(time.RFC850), 30 * time.Second, true},
		{"past date", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"far date", now.Add(48 * time.Hour).Format(http.TimeFormat), 48 * time.Hour, true},
		{"date past a year", now.Add(2 * Longest).Format(http.TimeFormat), Longest, true},
		{"negative", "-5", 0, false},
		{"fraction", "1.5", 0, false},
		{"garbage", "soon", 0, false},
		{"digits then garbage", "10s", 0, false},
		{"empty", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := Parse(tc.v, now)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("Parse(%q) = %v, %v; want %v, %v", tc.v, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFromResponse(t *testing.T) {
	now := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	serverNow := now.Add(-time.Hour) // the device's clock is an hour fast
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		want   *Error
	}{
		{"429 delta", 429, http.Header{"Retry-After": {"3"}}, &Error{Status: 429, After: 3 * time.Second}},
		{"503 no header", 503, http.Header{}, &Error{Status: 503}},
		{"503 garbage", 503, http.Header{"Retry-After": {"later"}}, &Error{Status: 503}},
		{"date against the response's Date", 503, http.Header{
			"Date":        {serverNow.Format(http.TimeFormat)},
			"Retry-After": {serverNow.Add(20 * time.Second).Format(http.TimeFormat)},
		}, &Error{Status: 503, After: 20 * time.Second}},
		{"500 is not temporary", 500, http.Header{"Retry-After": {"3"}}, nil},
		{"200", 200, http.Header{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := FromResponse(&http.Response{StatusCode: tc.status, Header: tc.header}, now)
			if (got == nil) != (tc.want == nil) || (got != nil && *got != *tc.want) {
				t.Fatalf("FromResponse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestWaitThroughWraps(t *testing.T) {
	err := fmt.Errorf("get /v1/x: %w", &Error{Status: 429, After: 4 * time.Second})
	if !errors.Is(err, ErrRetryLater) {
		t.Fatal("a wrapped *Error does not match ErrRetryLater")
	}
	if d, ok := Wait(err); !ok || d != 4*time.Second {
		t.Fatalf("Wait = %v, %v; want 4s, true", d, ok)
	}
	if d, ok := Wait(&Error{Status: 429, After: time.Hour}); !ok || d != Max {
		t.Fatalf("Wait of an hour's refusal = %v, %v; want %v (Max), true", d, ok, Max)
	}
	if _, ok := Wait(&Error{Status: 503}); ok {
		t.Fatal("Wait found a wait in a refusal without one")
	}
	if got := err.Error(); got != "get /v1/x: relay busy (status 429), retry in 4 s" {
		t.Fatalf("message %q", got)
	}
}
