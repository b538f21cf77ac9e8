package relay_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/server/relay"
)

// TestSyncWithoutUpgradeNamesTheWait: while the session caps would
// refuse a socket of the caller, GET /v1/sync without an upgrade is
// answered as that socket would be (429 or 503 with Retry-After: 10)
// instead of 426, taking nothing and counting no refusal; a caller the
// caps leave room for still gets 426. A browser's WebSocket shows the
// page nothing of a refused upgrade, so this plain request is how the web
// player learns the wait. Before, it was 426 whatever the caps said.
func TestSyncWithoutUpgradeNamesTheWait(t *testing.T) {
	cases := []struct {
		name         string
		total, user  int
		want         int
		retry, words string
	}{
		{"room", 0, 0, http.StatusUpgradeRequired, "", "WebSocket endpoint"},
		{"per-user cap reached", 0, 1, http.StatusTooManyRequests, "10", "at most 1 sync connections per user, retry in 10 s"},
		{"total cap reached", 1, 0, http.StatusServiceUnavailable, "10", "too many sync connections, retry in 10 s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithSyncSessions(tc.total, tc.user) })
			if tc.total > 0 || tc.user > 0 {
				c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(e.base, "http")+"/v1/sync",
					&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.token}}})
				if err != nil {
					t.Fatal(err)
				}
				defer c.CloseNow()
			}
			ep := e.srv.SyncEndpoint()
			open, refused := ep.Sessions(), ep.Refused()
			for range 2 { // nothing taken: the answer does not change
				res := e.do(t, "GET", "/v1/sync", nil, e.token)
				msg := res.errorMessage(t)
				if res.code != tc.want || res.header.Get("Retry-After") != tc.retry || !strings.Contains(msg, tc.words) {
					t.Fatalf("%d Retry-After %q %q, want %d, %q and %q", res.code, res.header.Get("Retry-After"), msg, tc.want, tc.retry, tc.words)
				}
			}
			if ep.Sessions() != open || ep.Refused() != refused {
				t.Errorf("sessions %d → %d, refused %d → %d: want both unchanged", open, ep.Sessions(), refused, ep.Refused())
			}
		})
	}
}
