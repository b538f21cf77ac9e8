package edge

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/relay"
)

// meParent is a fake parent, in process, that accepts only good at
// /v1/me and counts the /v1/me requests it gets for good and for every
// other token.
type meParent struct {
	good      string
	goodAsked atomic.Int64
	badAsked  atomic.Int64
}

// RoundTrip answers req as the parent, without a socket.
func (p *meParent) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	tok, _ := relay.BearerToken(req)
	switch {
	case req.URL.Path != "/v1/me":
		http.NotFound(rec, req)
	case tok == p.good:
		p.goodAsked.Add(1)
		io.WriteString(rec, `{"device":{"device_id":"dev-good"}}`)
	default:
		p.badAsked.Add(1)
		rec.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusUnauthorized)
		io.WriteString(rec, `{"error":"unauthorized"}`)
	}
	return rec.Result(), nil
}

// meFrom answers GET /v1/me with tok from the client address addr,
// in process.
func meFrom(h http.Handler, addr, tok string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/v1/me", nil)
	req.RemoteAddr = addr + ":40000"
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestEdgeVerdictFlood: bogus tokens cannot flush the verdicts of real
// ones. Before, every verdict shared one map of 65,536 entries emptied
// when full, so 65,536 bogus tokens (one parent request each) evicted
// every real user's verdict and their next requests all went to the
// parent again.
func TestEdgeVerdictFlood(t *testing.T) {
	const good = "good-token"
	p := &meParent{good: good}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e, err := New(DefaultOptions("http://parent").WithHTTPClient(&http.Client{Transport: p}).WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := e.Handler()
	if rec := meFrom(h, "192.0.2.1", good); rec.Code != http.StatusOK {
		t.Fatalf("good token: %d", rec.Code)
	}
	// The flood: each bogus token from its own address, so no
	// per-address limit holds it back.
	const flood = maxVerdicts + 1000
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < flood; i += 2 {
				addr := "198." + strconv.Itoa(18+i>>16) + "." + strconv.Itoa(i>>8&0xff) + "." + strconv.Itoa(i&0xff)
				if rec := meFrom(h, addr, "bogus-"+strconv.Itoa(i)); rec.Code != http.StatusUnauthorized {
					t.Errorf("bogus token %d: %d, want 401", i, rec.Code)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := p.badAsked.Load(); n < flood {
		t.Fatalf("the parent checked %d bogus tokens, want %d (the flood did not happen)", n, flood)
	}
	asked := p.goodAsked.Load()
	for range 3 {
		if rec := meFrom(h, "192.0.2.1", good); rec.Code != http.StatusOK {
			t.Fatalf("good token after the flood: %d", rec.Code)
		}
	}
	// /v1/me itself is passed through: count only the verdict checks.
	if d := p.goodAsked.Load() - asked; d != 3 {
		t.Errorf("good token after the flood: %d parent requests for 3 passed-through /v1/me, want 3 (no verdict check)", d)
	}
	if s := e.Stats(); s.Verdicts != 1 || s.Refusals > maxRefusals {
		t.Errorf("%d accepted and %d refused verdicts held, want 1 and ≤ %d", s.Verdicts, s.Refusals, maxRefusals)
	}
}

// TestEdgeTokenCheckLimits: tokens the relay would refuse unread are
// refused without a parent request, and one client address gets at most
// its rate of parent checks of unknown tokens (429 with Retry-After past
// it), while tokens accepted before — fresh or expired verdicts — are
// not limited.
func TestEdgeTokenCheckLimits(t *testing.T) {
	const good, addr = "good-token", "192.0.2.7"
	p := &meParent{good: good}
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e, err := New(DefaultOptions("http://parent").WithHTTPClient(&http.Client{Transport: p}).WithClock(clock).WithTokenCheckRate(time.Hour, 3))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := e.Handler()
	if rec := meFrom(h, addr, good); rec.Code != http.StatusOK {
		t.Fatalf("good token: %d", rec.Code)
	}
	for _, tc := range []struct {
		name, addr, tok string
		status          int
		parentAsked     int64 // bogus tokens the parent was asked about, after
	}{
		{"too long for the relay", addr, strings.Repeat("x", relay.MaxTokenLen+1), http.StatusUnauthorized, 0},
		{"longest the relay reads", addr, strings.Repeat("y", relay.MaxTokenLen), http.StatusUnauthorized, 1},
		{"unknown 2", addr, "bogus-2", http.StatusUnauthorized, 2},
		{"burst spent", addr, "bogus-3", http.StatusTooManyRequests, 2},
		{"still limited", addr, "bogus-4", http.StatusTooManyRequests, 2},
		{"accepted token not limited", addr, good, http.StatusOK, 2},
		{"another address", "192.0.2.8", "bogus-5", http.StatusUnauthorized, 3},
		{"an IPv6 client", "[2001:db8::1]", "bogus-6", http.StatusUnauthorized, 4},
	} {
		rec := meFrom(h, tc.addr, tc.tok)
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
		}
		if tc.status == http.StatusTooManyRequests && (rec.Header().Get("Retry-After") != "3600" || !strings.HasPrefix(rec.Body.String(), `{"error":`)) {
			t.Errorf("%s: Retry-After %q, body %q; want 3600 and a JSON error", tc.name, rec.Header().Get("Retry-After"), rec.Body)
		}
		if n := p.badAsked.Load(); n != tc.parentAsked {
			t.Errorf("%s: parent asked about %d bogus tokens, want %d", tc.name, n, tc.parentAsked)
		}
	}
	// The good token's verdict expires; its renewal is no unknown token.
	now.Add(int64(DefaultAuthTTL + time.Second))
	asked := p.goodAsked.Load()
	if rec := meFrom(h, addr, good); rec.Code != http.StatusOK {
		t.Errorf("renewal of an accepted token from a limited address: %d, want 200", rec.Code)
	}
	if d := p.goodAsked.Load() - asked; d != 2 {
		t.Errorf("renewal: %d parent requests, want 2 (the check and the passed-through /v1/me)", d)
	}
	if s := e.Stats(); s.TokenChecksLimited != 2 {
		t.Errorf("TokenChecksLimited %d, want 2", s.TokenChecksLimited)
	}
}
