package relay_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

// clientFrom returns an HTTP client whose connections leave from the
// loopback address ip (Linux routes all of 127.0.0.0/8 to lo), so a test
// can play several client addresses.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// login posts a device registration of user with pw through client and
// returns the status and the Retry-After header.
func (e *env) login(t *testing.T, client *http.Client, user, pw string) (int, string) {
	t.Helper()
	b, err := json.Marshal(e.registration(user, pw, newIdentity(t), e.clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Post(e.base+"/v1/devices", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After")
}

// TestLoginBackoff drives the brute-force limiter through a real relay
// with a fake clock: Free wrong passwords get 401; the next failure
// blocks the account and the address for 1 s, then 2 s, 4 s (each block
// answered 429 with that Retry-After, even for the right password);
// another account from another address logs in meanwhile; once the block
// ends the right password works and clears the account's count.
func TestLoginBackoff(t *testing.T) {
	const free = 3
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
		return o.WithLoginLimits(relay.LoginLimits{Free: free, Base: time.Second, Max: time.Minute, Entries: 100, PerAddress: 8})
	})
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "bobs password"}, ""); res.code != 201 {
		t.Fatalf("sign up bob: %d %s", res.code, res.body)
	}
	attacker, other := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	for i := range free {
		if code, ra := e.login(t, attacker, "ada", "wrong horse"); code != 401 || ra != "" {
			t.Fatalf("wrong password %d: %d Retry-After %q, want 401 and none", i+1, code, ra)
		}
	}
	for _, block := range []int{1, 2, 4} {
		if code, _ := e.login(t, attacker, "ada", "wrong horse"); code != 401 {
			t.Fatalf("failure starting the %d s block: %d, want 401", block, code)
		}
		want := strconv.Itoa(block)
		if code, ra := e.login(t, attacker, "ada", "wrong horse"); code != 429 || ra != want {
			t.Fatalf("wrong password during the %d s block: %d Retry-After %q, want 429 %s", block, code, ra, want)
		}
		if code, ra := e.login(t, other, "ada", "correct horse"); code != 429 || ra != want {
			t.Fatalf("right password from another address during the %d s block: %d Retry-After %q, want 429 %s", block, code, ra, want)
		}
		if code, ra := e.login(t, attacker, "bob", "bobs password"); code != 429 || ra != want {
			t.Fatalf("other account from the blocked address: %d Retry-After %q, want 429 %s", code, ra, want)
		}
		if code, _ := e.login(t, other, "bob", "bobs password"); code != 201 {
			t.Fatalf("other account from another address during the block: %d, want 201", code)
		}
		e.clock.Advance(time.Duration(block) * time.Second)
	}
	if code, _ := e.login(t, other, "ada", "correct horse"); code != 201 {
		t.Fatalf("right password after the block: %d, want 201", code)
	}
	if code, _ := e.login(t, other, "ada", "wrong horse"); code != 401 {
		t.Fatalf("first failure after a success: %d, want 401 (count cleared)", code)
	}
}

// TestPasswordCheckCaps checks the per-address cap and the hashing queue
// through a real relay: with 1 check in flight per address, 1 hashing
// slot and no waiting room, a burst of concurrent logins from one
// address gets 429 past the first, and from many addresses 503, every
// refusal with a Retry-After, and the right password still works after.
func TestPasswordCheckCaps(t *testing.T) {
	cases := []struct {
		name     string
		addrs    []string
		wantBusy int // status of the refused requests
	}{
		{"one address", []string{"127.0.0.1"}, 429},
		{"many addresses", []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16",
			"127.0.0.17", "127.0.0.18", "127.0.0.19", "127.0.0.20", "127.0.0.21", "127.0.0.22"}, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
				return o.WithArgonParams(relay.ArgonParams{Time: 2, MemoryK: 8 << 10, Threads: 1}).
					WithHashMemory(8<<20).WithHashQueue(0, 0).
					WithLoginLimits(relay.LoginLimits{Free: 1000, Base: time.Second, Max: time.Minute, Entries: 100, PerAddress: 1})
			})
			const n = 12
			type result struct {
				code int
				ra   string
			}
			results := make(chan result, n)
			start := make(chan struct{})
			for i := range n {
				client := clientFrom(t, tc.addrs[i%len(tc.addrs)])
				go func() {
					<-start
					code, ra := e.login(t, client, "ada", "wrong horse")
					results <- result{code, ra}
				}()
			}
			close(start)
			counts := map[int]int{}
			for range n {
				r := <-results
				counts[r.code]++
				if r.code != 401 && (r.code != tc.wantBusy || r.ra != "1") {
					t.Errorf("refusal %d with Retry-After %q, want %d with 1", r.code, r.ra, tc.wantBusy)
				}
			}
			if counts[401] == 0 || counts[tc.wantBusy] == 0 {
				t.Fatalf("statuses %v: want some 401 and some %d", counts, tc.wantBusy)
			}
			if code, _ := e.login(t, clientFrom(t, "127.0.0.2"), "ada", "correct horse"); code != 201 {
				t.Fatalf("right password after the burst: %d", code)
			}
		})
	}
}

// TestLoginBlockMessage: a blocked login's message names the wait its
// Retry-After header gives, the remaining block rounded up to whole
// seconds. It used to round to the nearest second: 300 ms left read
// "account locked for 0s" beside Retry-After: 1.
func TestLoginBlockMessage(t *testing.T) {
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options {
		return o.WithLoginLimits(relay.LoginLimits{Free: 0, Base: 4 * time.Second, Max: time.Minute, Entries: 100, PerAddress: 8})
	})
	if code, _ := e.login(t, http.DefaultClient, "ada", "wrong horse"); code != 401 {
		t.Fatalf("failure starting the 4 s block: %d, want 401", code)
	}
	for _, tc := range []struct {
		advance time.Duration // clock moves before the request
		want    int           // whole seconds left
	}{
		{0, 4},
		{1400 * time.Millisecond, 3}, // 2.6 s left
		{1300 * time.Millisecond, 2}, // 1.3 s left
		{1 * time.Second, 1},         // 300 ms left
	} {
		e.clock.Advance(tc.advance)
		res := e.do(t, "POST", "/v1/devices", e.registration("ada", "wrong horse", newIdentity(t), e.clock.Now()), "")
		want := strconv.Itoa(tc.want)
		if res.code != 429 || res.header.Get("Retry-After") != want {
			t.Fatalf("%d s left: %d Retry-After %q, want 429 %s", tc.want, res.code, res.header.Get("Retry-After"), want)
		}
		if msg, wantMsg := res.errorMessage(t), "locked for "+want+"s"; !strings.Contains(msg, wantMsg) {
			t.Errorf("%d s left: message %q, want it to say %q", tc.want, msg, wantMsg)
		}
	}
}

// TestAdminTokenGuesses: wrong admin tokens count as failed credentials
// of the client address, like failed logins: past the free ones the
// address is blocked (429 with Retry-After, the right token refused
// too, so the block says nothing about a guess) until the backoff ends,
// on every admin route: the relay's own (/metrics, ingest), a gate
// mounted with its own token (AdminGate, as the license and counting
// services mount theirs) and closed signup. Before, a client could try
// about 15,000 tokens a second on a real relay and never be slowed.
// A request without a token is not a guess.
func TestAdminTokenGuesses(t *testing.T) {
	const free = 3
	const svcToken = "service-admin-token-0123456789"
	cases := []struct {
		name, method, path, right string
		wrong, ok                 int // status of a wrong and of the right token when not blocked
	}{
		{"metrics", "GET", "/metrics", adminToken, 401, 200},
		{"admin ingest", "POST", "/v1/admin/ingest", adminToken, 401, 400},
		{"mounted gate", "GET", "/v1/admin/test", svcToken, 401, 204},
		{"closed signup", "POST", "/v1/accounts", adminToken, 403, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 1, 100) },
				func(o testbed.Options) testbed.Options {
					return o.WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
						srv.MountIngest(relay.DefaultIngestOptions())
						srv.Echo().GET("/v1/admin/test", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) }, srv.AdminGate(svcToken))
					})
				},
				func(o relay.Options) relay.Options {
					return o.WithOpenSignup(false).
						WithLoginLimits(relay.LoginLimits{Free: free, Base: time.Second, Max: time.Minute, Entries: 100, PerAddress: 8})
				})
			for i := range free + 3 {
				if res := e.do(t, tc.method, tc.path, nil, ""); res.code != tc.wrong && res.code != http.StatusUnauthorized {
					t.Fatalf("no token: %d %s", res.code, res.body)
				}
				want := tc.wrong
				if i > free {
					want = http.StatusTooManyRequests
				}
				res := e.do(t, tc.method, tc.path, nil, fmt.Sprintf("guess-%d", i))
				if res.code != want {
					t.Fatalf("guess %d: %d %s, want %d", i+1, res.code, res.body, want)
				}
				if want == http.StatusTooManyRequests && res.header.Get("Retry-After") == "" {
					t.Fatal("429 without Retry-After")
				}
			}
			if res := e.do(t, tc.method, tc.path, nil, tc.right); res.code != http.StatusTooManyRequests {
				t.Fatalf("the right token while blocked: %d %s, want 429", res.code, res.body)
			}
			e.clock.Advance(time.Minute)
			if res := e.do(t, tc.method, tc.path, nil, tc.right); res.code != tc.ok {
				t.Fatalf("the right token after the block: %d %s, want %d", res.code, res.body, tc.ok)
			}
		})
	}
}
