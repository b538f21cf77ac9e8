package fetch

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
)

// TestJSONClientOrigins checks when Do moves on to the next origin and
// when an answer ends the loop.
func TestJSONClientOrigins(t *testing.T) {
	serve := func(code int, body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				http.Error(w, `{"error":"no token"}`, http.StatusUnauthorized)
				return
			}
			w.Header().Set("X-Mark", "yes")
			w.WriteHeader(code)
			w.Write([]byte(body))
		}))
		t.Cleanup(s.Close)
		return s.URL
	}
	good := serve(200, `{"v":7}`)
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()

	tests := []struct {
		name      string
		origins   []string
		wantV     int
		wantCode  int // of the returned answer; 0 when none
		wantErr   error
		wantMark  bool
		wantFails int // *OriginError entries expected in the error text (0: no error)
	}{
		{"first answers", []string{good}, 7, 200, nil, true, 0},
		{"5xx moves on", []string{serve(503, `{"error":"busy"}`), good}, 7, 200, nil, true, 0},
		{"bad JSON moves on", []string{serve(200, `not json`), good}, 7, 200, nil, true, 0},
		{"unreachable moves on", []string{downURL, good}, 7, 200, nil, true, 0},
		{"4xx is the answer", []string{serve(403, `{"error":"refused"}`), good}, 0, 403, nil, true, 1},
		{"nobody answers", []string{downURL}, 0, 0, ErrOffline, false, 1},
		{"only bad JSON", []string{serve(200, `{`)}, 0, 0, ErrBadAnswer, false, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := JSONClient{Origins: tc.origins, Client: http.DefaultClient, Token: func() string { return "tok" }, MaxBody: 1 << 10}
			var out struct{ V int }
			a, err := c.Do(context.Background(), http.MethodGet, "/x", nil, &out, true)
			if tc.wantFails == 0 && err != nil {
				t.Fatalf("Do: %v", err)
			}
			if tc.wantFails > 0 {
				var oe *OriginError
				if !errors.As(err, &oe) {
					t.Fatalf("Do = %v, want an *OriginError", err)
				}
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Do = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && errors.Is(err, ErrOffline) {
				t.Fatalf("Do = %v: an origin answered, not offline", err)
			}
			if a.Code != tc.wantCode || out.V != tc.wantV || (a.Header.Get("X-Mark") == "yes") != tc.wantMark {
				t.Fatalf("answer code %d v %d mark %q; want %d %d %v", a.Code, out.V, a.Header.Get("X-Mark"), tc.wantCode, tc.wantV, tc.wantMark)
			}
		})
	}
}

func TestJSONClientNoToken(t *testing.T) {
	c := JSONClient{Origins: []string{"http://127.0.0.1:1"}, Client: http.DefaultClient, MaxBody: 1 << 10}
	if _, err := c.Do(context.Background(), http.MethodGet, "/x", nil, nil, true); !errors.Is(err, ErrNoToken) {
		t.Fatalf("Do = %v, want ErrNoToken", err)
	}
}

// TestJSONClientErrorText: a failed call names its method, path and
// origin, and no empty object request ("/ kind(0)").
func TestJSONClientErrorText(t *testing.T) {
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"no such track"}`, http.StatusNotFound)
	}))
	defer refuse.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	for _, origin := range []string{refuse.URL, down.URL} {
		c := JSONClient{Origins: []string{origin}, Client: http.DefaultClient, MaxBody: 1 << 10}
		_, err := c.Do(context.Background(), http.MethodGet, "/v1/tracks/x", nil, nil, false)
		if err == nil {
			t.Fatalf("%s: no error", origin)
		}
		msg := err.Error()
		if strings.Contains(msg, "kind(") || strings.Contains(msg, ": / ") ||
			!strings.HasPrefix(msg, "GET /v1/tracks/x: ") || !strings.Contains(msg, "fetch: origin "+origin+": ") {
			t.Fatalf("error text %q: want it to name GET /v1/tracks/x and the origin, and no empty request", msg)
		}
	}
}

// TestJSONClientRetryLater: a relay's temporary refusal (429, 503) is
// api.ErrRetryLater with the wait its Retry-After asked for, through the
// joined errors of a 503 too; another status is not.
func TestJSONClientRetryLater(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header string
		retry  bool
		want   time.Duration
		says   string // in the error's message
	}{
		{"429 delta", http.StatusTooManyRequests, "3", true, 3 * time.Second, "(retry in 3 s)"},
		{"503 delta", http.StatusServiceUnavailable, "10", true, 10 * time.Second, "(retry in 10 s)"},
		{"503 huge: the wait is capped, the message names it", http.StatusServiceUnavailable, "999999", true, api.MaxRetryAfter, "(retry in 999999 s)"},
		{"503 garbage", http.StatusServiceUnavailable, "later", true, 0, ""},
		{"403 is final", http.StatusForbidden, "3", false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tc.header)
				w.WriteHeader(tc.status)
				w.Write([]byte(`{"error":"busy"}`))
			}))
			defer srv.Close()
			c := &JSONClient{Origins: []string{srv.URL}, MaxBody: 1 << 10}
			_, err := c.Do(context.Background(), http.MethodGet, "/v1/me", nil, nil, false)
			if got := errors.Is(err, api.ErrRetryLater); got != tc.retry {
				t.Fatalf("errors.Is(%v, ErrRetryLater) = %v, want %v", err, got, tc.retry)
			}
			d, ok := api.RetryAfter(err)
			if d != tc.want || ok != (tc.want > 0) {
				t.Fatalf("RetryAfter(%v) = %v, %v; want %v", err, d, ok, tc.want)
			}
			if got := err.Error(); !strings.Contains(got, tc.says) || (tc.says == "" && strings.Contains(got, "retry in")) {
				t.Fatalf("error %q, want it to say %q", got, tc.says)
			}
		})
	}
}
