package fetch

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

// stubDoer answers every request with 200 and the request's path.
type stubDoer struct{ n int }

func (d *stubDoer) Do(r *http.Request) (*http.Response, error) {
	d.n++
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(r.URL.Path)), ContentLength: int64(len(r.URL.Path)), Request: r}, nil
}

func TestOrDefault(t *testing.T) {
	stub := &stubDoer{}
	custom := &http.Client{}
	for _, tc := range []struct {
		name string
		in   Doer
		want Doer
	}{
		{"nil", nil, DefaultDoer()},
		{"nil *http.Client", (*http.Client)(nil), DefaultDoer()},
		{"an *http.Client", custom, custom},
		{"another Doer", stub, stub},
	} {
		if got := OrDefault(tc.in); got != tc.want {
			t.Errorf("%s: OrDefault = %#v, want %#v", tc.name, got, tc.want)
		}
	}
	if DefaultDoer() != Doer(http.DefaultClient) {
		t.Errorf("native DefaultDoer is %#v, want http.DefaultClient", DefaultDoer())
	}
}

// TestRequestsGoThroughTheDoer: an HTTPOrigin and a JSONClient send every
// request through the Doer they are given (the web player's module
// relies on it to link no net/http transport).
func TestRequestsGoThroughTheDoer(t *testing.T) {
	d := &stubDoer{}
	o, err := NewHTTPOrigin("http://relay.invalid", d, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Kind: KindManifest, Track: "t1", Tier: "low", MaxSize: 1 << 10}
	b, err := o.Fetch(context.Background(), r)
	if err != nil || string(b) != r.Path() {
		t.Fatalf("origin: %q, %v", b, err)
	}
	c := JSONClient{Origins: []string{"http://relay.invalid"}, Client: d, MaxBody: 1 << 10}
	if _, err := c.Do(context.Background(), http.MethodGet, "/v1/me", nil, nil, false); err != nil {
		t.Fatalf("json client: %v", err)
	}
	if d.n != 2 {
		t.Fatalf("the Doer saw %d requests, want 2", d.n)
	}
}
