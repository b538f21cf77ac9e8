package core_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
)

// cannedLists answers GET /v1/activity and the user lists with body,
// and passes every other request (registration) to the relay.
type cannedLists struct {
	relay http.Handler
	mu    sync.Mutex
	body  string
}

func (c *cannedLists) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/activity", "/v1/friends", "/v1/follows", "/v1/followers", "/v1/blocks":
		c.mu.Lock()
		body := c.body
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	default:
		c.relay.ServeHTTP(w, r)
	}
}

// TestSocialListsCheckAnswers: FriendActivity (`segue friends`) and
// Users read a relay's answer that lacks its list (`{}`, the list null,
// `null`) as an empty one, so a server that is not a Segue relay, or a
// broken one, showed "no friend activity"; they now fail with
// core.ErrBadResponse naming the origin, while an explicit empty list
// stays empty. Undecodable answers were ErrBadResponse already; an
// answer over the engine's 1 MiB bound is fetch.ErrTooLarge and
// ErrBadResponse, one of exactly 1 MiB is read. Every failure asks
// whether the origin is a Segue relay.
func TestSocialListsCheckAnswers(t *testing.T) {
	tb := newTestbed(t)
	fake := &cannedLists{relay: tb.srv.Handler()}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	e := tb.openEngine(t, core.DefaultOptions(), srv.URL)
	// padded returns the JSON object {list: [] , "pad": "…"} of n bytes.
	padded := func(list string, n int) string {
		head := `{"` + list + `":[],"pad":"`
		return head + strings.Repeat("x", n-len(head)-2) + `"}`
	}
	calls := []struct {
		name, list string
		call       func() (int, error)
	}{
		{"friend activity", "activities", func() (int, error) {
			feed, err := e.FriendActivity(t.Context())
			return len(feed), err
		}},
		{"users", "users", func() (int, error) {
			users, err := e.Users(t.Context(), "friends")
			return len(users), err
		}},
	}
	for _, c := range calls {
		cases := []struct {
			name, body string
			want       error // nil: an empty list
		}{
			{"empty object", `{}`, core.ErrBadResponse},
			{"list null", `{"` + c.list + `":null}`, core.ErrBadResponse},
			{"null", `null`, core.ErrBadResponse},
			{"empty list", `{"` + c.list + `":[]}`, nil},
			{"garbage", `<html>not json</html>`, core.ErrBadResponse},
			{"list not a list", `{"` + c.list + `":{}}`, core.ErrBadResponse},
			{"1 MiB", padded(c.list, 1<<20), nil},
			{"oversized", padded(c.list, 1<<20+1), fetch.ErrTooLarge},
		}
		for _, tc := range cases {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				fake.mu.Lock()
				fake.body = tc.body
				fake.mu.Unlock()
				n, err := c.call()
				switch {
				case tc.want == nil && (err != nil || n != 0):
					t.Fatalf("%d entries, err %v; want an empty list", n, err)
				case tc.want != nil && !errors.Is(err, tc.want):
					t.Fatalf("%d entries, err %v; want %v", n, err, tc.want)
				case tc.want != nil && !errors.Is(err, core.ErrBadResponse):
					t.Errorf("err %v is not core.ErrBadResponse", err)
				case tc.want != nil && !strings.Contains(err.Error(), "is "+srv.URL+" a Segue relay?"):
					t.Errorf("err %v does not ask whether %s is a Segue relay", err, srv.URL)
				}
			})
		}
	}
}
