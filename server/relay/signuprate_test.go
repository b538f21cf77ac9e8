package relay_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/relay"
)

// TestSignupRate: one client address creates its share of accounts, then
// its next signup is 429 with Retry-After before any hashing, while a
// taken name is still 409 and the operator (admin token) still creates
// accounts; once the bucket refills, signups resume.
func TestSignupRate(t *testing.T) {
	e := startRelay(t, 1, 100, func(o relay.Options) relay.Options { return o.WithSignupRate(3) })
	signup := func(user, token string) response {
		t.Helper()
		return e.do(t, "POST", "/v1/accounts", map[string]string{"username": user, "password": "correct horse"}, token)
	}
	for i := range 3 {
		if res := signup(fmt.Sprint("user", i), ""); res.code != http.StatusCreated {
			t.Fatalf("signup %d: %d %s", i, res.code, res.body)
		}
	}
	res := signup("user3", "")
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") != "1200" {
		t.Fatalf("fourth signup: %d Retry-After %q %s, want 429 and 1200 (an hour / 3)", res.code, res.header.Get("Retry-After"), res.body)
	}
	if res := signup("user0", ""); res.code != http.StatusConflict {
		t.Fatalf("taken name over the rate: %d, want 409", res.code)
	}
	if res := signup("operator-made", adminToken); res.code != http.StatusCreated {
		t.Fatalf("admin signup over the rate: %d %s", res.code, res.body)
	}
	e.clock.Advance(20 * time.Minute)
	if res := signup("user3", ""); res.code != http.StatusCreated {
		t.Fatalf("signup after the refill: %d %s", res.code, res.body)
	}
	if res := signup("user4", ""); res.code != http.StatusTooManyRequests {
		t.Fatalf("second signup after one refill: %d, want 429", res.code)
	}
}
