package social_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// TestLongLivedBudget: with a connection cap of 20, activity streams
// (HTTP/1.1, a connection each) and sync sessions together get 15 of
// them (relay.Server.LongLivedConns): once two accounts hold 14 streams
// and a sync session, a further stream or sync session is answered 503
// with Retry-After, and /healthz and an ordinary GET still get through
// on new connections. The streams' own caps (50,000 in all, 8 per
// user) used to let them take every connection, after which every new
// connection waited in the accept queue.
func TestLongLivedBudget(t *testing.T) {
	const maxConns = 20
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithMaxConns(maxConns) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
		}))
	if _, budget := r.Server().LongLivedConns(); budget != 15 {
		t.Fatalf("long-lived budget %d of %d connections, want 15", budget, maxConns)
	}
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")

	// get sends a GET on a connection of its own and returns its status
	// and Retry-After; the body of a 200 stays open until the test ends.
	get := func(path, token string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		tr := &http.Transport{DisableKeepAlives: true, ResponseHeaderTimeout: 5 * time.Second}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	dialSync := func(token string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.URL, "http")+"/v1/sync",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
		if err != nil {
			if resp == nil {
				t.Fatalf("sync dial: %v", err)
			}
			return resp.StatusCode
		}
		t.Cleanup(func() { c.CloseNow() })
		return http.StatusSwitchingProtocols
	}

	for i := range 14 {
		tok := ada.Token()
		if i >= 8 {
			tok = bob.Token()
		}
		if code, _ := get("/v1/activity/stream", tok); code != http.StatusOK {
			t.Fatalf("stream %d: %d", i+1, code)
		}
	}
	if code := dialSync(bob.Token()); code != http.StatusSwitchingProtocols {
		t.Fatalf("bob's sync session within the budget: %d", code)
	}
	if code, after := get("/v1/activity/stream", bob.Token()); code != http.StatusServiceUnavailable || after == "" {
		t.Fatalf("a stream past the budget: %d, Retry-After %q; want 503 with Retry-After", code, after)
	}
	if code := dialSync(ada.Token()); code != http.StatusServiceUnavailable {
		t.Fatalf("a sync session past the budget: %d, want 503", code)
	}
	// The refusal is the relay's JSON error body, as every relay error
	// (it was plain text): TestRefusalsAreJSON (sync/relaysync) has the
	// other refusals.
	req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+"/v1/sync", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = http.Header{"Authorization": {"Bearer " + ada.Token()}, "Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("Retry-After") != "10" || !strings.Contains(string(body), `{"error":"relaysync: too many long-lived connections, retry in 10 s"}`) {
		t.Fatalf("sync refusal: %d %q Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Retry-After"), body)
	}
	if code, _ := get("/healthz", ""); code != http.StatusOK {
		t.Fatalf("/healthz with the budget spent: %d", code)
	}
	if code, _ := get("/v1/activity", ada.Token()); code != http.StatusOK {
		t.Fatalf("GET /v1/activity with the budget spent: %d", code)
	}
	if open, _ := r.Server().LongLivedConns(); open != 15 {
		t.Fatalf("%d long-lived connections open, want 15", open)
	}
}
