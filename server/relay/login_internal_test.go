package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/store"
)

// TestHashGateBound runs 24 hashes of 1 unit through a gate of 3 units
// and counts how many run at once: never more than 3, and 3 are reached.
func TestHashGateBound(t *testing.T) {
	g := newHashGate(3, 64, 10*time.Second)
	var now, most atomic.Int32
	var wg sync.WaitGroup
	for range 24 {
		wg.Go(func() {
			err := g.do(context.Background(), 1, "a", func() error {
				n := now.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(5 * time.Millisecond)
				now.Add(-1)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	st := g.stats()
	if most.Load() != 3 || st.peak != 3 {
		t.Fatalf("at most %d hashes ran at once (gate peak %d), want 3", most.Load(), st.peak)
	}
	if st.hashes != 24 || st.running != 0 || st.waiting != 0 {
		t.Fatalf("stats after the burst: %+v", st)
	}
}

// TestHashGateQueue checks the refusals: a full queue and a wait that
// runs out are ErrBusy with a Retry-After, a cancelled wait the
// context's error; none leaks budget.
func TestHashGateQueue(t *testing.T) {
	g := newHashGate(1, 1, 50*time.Millisecond)
	// The waiter's maxWait runs out when the test says so, not on the
	// clock: under load a 50 ms wait could end before the test saw it
	// queued, and the test then waited for a waiter that had left.
	expire := make(chan time.Time)
	var asked atomic.Int64
	g.after = func(d time.Duration) (<-chan time.Time, func()) {
		asked.Store(int64(d))
		return expire, func() {}
	}
	hold := make(chan struct{})
	started := make(chan struct{})
	go g.do(context.Background(), 1, "a", func() error { close(started); <-hold; return nil })
	<-started

	waited := make(chan error, 1)
	go func() { waited <- g.do(context.Background(), 1, "a", func() error { return nil }) }()
	for g.stats().waiting != 1 {
		time.Sleep(time.Millisecond)
	}
	err := g.do(context.Background(), 1, "a", func() error { t.Error("ran past a full queue"); return nil })
	if d, ok := RetryAfter(err); !errors.Is(err, ErrBusy) || !ok || d != time.Second {
		t.Fatalf("full queue: %v (retry %v %v), want ErrBusy, 1s", err, d, ok)
	}
	expire <- time.Now() // the waiter's 50 ms are up
	if d := time.Duration(asked.Load()); d != 50*time.Millisecond {
		t.Fatalf("waiter's timer set to %v, want maxWait 50ms", d)
	}
	if err := <-waited; !errors.Is(err, ErrBusy) {
		t.Fatalf("wait past maxWait: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.do(ctx, 1, "b", func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v", err)
	}
	close(hold)
	for g.stats().running != 0 {
		time.Sleep(time.Millisecond)
	}
	if err := g.do(context.Background(), 1, "a", func() error { return nil }); err != nil {
		t.Fatalf("after the holder left: %v", err)
	}
	if st := g.stats(); st.running != 0 || st.waiting != 0 || g.used != 0 || len(g.byKey) != 0 {
		t.Fatalf("budget leaked: %+v used %d, clients %v", st, g.used, g.byKey)
	}
}

// TestHashGateFairness fills a 1-slot gate and its 3-place queue from
// client a; client b's first request then displaces a's last waiter and
// is served next, before a's earlier waiters.
func TestHashGateFairness(t *testing.T) {
	g := newHashGate(1, 3, 10*time.Second)
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	run := func(key string, hold chan struct{}) func() error {
		return func() error {
			mu.Lock()
			order = append(order, key)
			mu.Unlock()
			if hold != nil {
				<-hold
			}
			return nil
		}
	}
	hold := make(chan struct{})
	go g.do(ctx, 1, "a", run("a0", hold))
	for g.stats().running != 1 {
		time.Sleep(time.Millisecond)
	}
	errs := make(chan error, 4)
	for i := 1; i <= 3; i++ {
		go func() { errs <- g.do(ctx, 1, "a", run(fmt.Sprintf("a%d", i), nil)) }()
		for g.stats().waiting != i {
			time.Sleep(time.Millisecond)
		}
	}
	go func() { errs <- g.do(ctx, 1, "b", run("b0", nil)) }()
	evicted := <-errs
	if !errors.Is(evicted, ErrBusy) {
		t.Fatalf("a's last waiter: %v, want ErrBusy (displaced by b)", evicted)
	}
	close(hold)
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := strings.Join(order, " "); got != "a0 b0 a1 a2" {
		t.Fatalf("served %s, want a0 b0 a1 a2", got)
	}
}

// TestBackoffTable checks the backoff sequence (Free failures, then Base
// doubling up to Max), forgetting after Max of quiet, and eviction of
// the least recently failed key when the table is full.
func TestBackoffTable(t *testing.T) {
	lim := LoginLimits{Free: 2, Base: time.Second, Max: 8 * time.Second, Entries: 3}.normalized()
	tb := newBackoffTable(lim)
	t0 := time.Unix(1_000_000, 0)
	now := t0
	want := []time.Duration{0, 0, 1 * time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := tb.fail("ada", now); got != w {
			t.Fatalf("failure %d: block %v, want %v", i+1, got, w)
		}
		if got := tb.blockedFor("ada", now); got != w {
			t.Fatalf("after failure %d: blocked %v, want %v", i+1, got, w)
		}
		now = now.Add(w)
		if got := tb.blockedFor("ada", now); got != 0 {
			t.Fatalf("block of failure %d still on after it ran out: %v", i+1, got)
		}
	}
	now = now.Add(lim.Max)
	if got := tb.fail("ada", now); got != 0 {
		t.Fatalf("failure after %v of quiet: block %v, want a fresh count", lim.Max, got)
	}
	for _, k := range []string{"b", "c", "d"} {
		tb.fail(k, now)
	}
	if tb.len() != 3 || len(tb.byKey) != 3 {
		t.Fatalf("table holds %d keys (%d indexed), limit 3", tb.len(), len(tb.byKey))
	}
	if _, ok := tb.byKey["ada"]; ok {
		t.Fatal("the least recently failed key was not evicted")
	}
}

// TestBackoffTableKeepsBlocked: a full table evicts keys still within
// Free before any key past it, so a flood of single failures on many
// other keys (made-up usernames, from many addresses) does not clear a
// guessed account's backoff; with one LRU list, Entries such failures
// evicted it and its guesser had Free free failures again. With only
// blocked keys held, a new key evicts the least recently failed of them.
func TestBackoffTableKeepsBlocked(t *testing.T) {
	lim := LoginLimits{Free: 2, Base: time.Second, Max: time.Hour, Entries: 4}.normalized()
	now := time.Unix(1_000_000, 0)
	for _, tc := range []struct {
		name            string
		blockedKeys     []string // failed past Free, in this order
		flood           int      // then this many other keys fail once each
		kept, forgotten []string
	}{
		{"flood after one blocked key", []string{"ada"}, 1000, []string{"ada"}, nil},
		{"flood after three blocked keys", []string{"ada", "bob", "cy"}, 50, []string{"ada", "bob", "cy"}, nil},
		{"table of blocked keys", []string{"ada", "bob", "cy", "dee", "eve"}, 0, []string{"bob", "cy", "dee", "eve"}, []string{"ada"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newBackoffTable(lim)
			for _, k := range tc.blockedKeys {
				for range lim.Free + 1 {
					tb.fail(k, now)
				}
			}
			for i := range tc.flood {
				tb.fail(fmt.Sprintf("junk%d", i), now)
			}
			if tb.len() > lim.Entries || len(tb.byKey) != tb.len() {
				t.Fatalf("table holds %d keys (%d indexed), limit %d", tb.len(), len(tb.byKey), lim.Entries)
			}
			for _, k := range tc.kept {
				if tb.blockedFor(k, now) == 0 {
					t.Errorf("%s no longer blocked", k)
				}
			}
			for _, k := range tc.forgotten {
				if tb.blockedFor(k, now) != 0 {
					t.Errorf("%s still held", k)
				}
			}
		})
	}
}

// TestUnknownUserSameWork checks that a password check for an unknown
// user and a wrong password for a known one do the same hashing work:
// one hash each through the gate, of the same memory cost, and both
// count as failures.
func TestUnknownUserSameWork(t *testing.T) {
	ctx := context.Background()
	clock := time.Unix(2_000_000, 0)
	o := DefaultOptions("").WithArgonParams(ArgonParams{Time: 1, MemoryK: 256, Threads: 1}).
		WithClock(func() time.Time { return clock })
	a := newAccounts(store.NewMemory(), o)
	if err := a.create(ctx, "ada", "right password", "", "10.0.0.1", true); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"ada", "nobody", "NOT A USERNAME"} {
		before := a.gate.stats()
		if _, err := a.verify(ctx, user, "wrong password", "10.0.0.2"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("%s: %v, want ErrBadCredentials", user, err)
		}
		after := a.gate.stats()
		if after.hashes-before.hashes != 1 || after.bytes-before.bytes != 256<<10 {
			t.Fatalf("%s: %d hashes of %d bytes, want 1 of %d", user, after.hashes-before.hashes, after.bytes-before.bytes, 256<<10)
		}
	}
	if _, err := a.verify(ctx, "ada", "right password", "10.0.0.2"); err != nil {
		t.Fatalf("right password: %v", err)
	}
}

// TestClientAddr checks the limiter key of a connection's address.
func TestClientAddr(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:5555", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2::9]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"not an address", "not an address"},
	}
	for _, tc := range cases {
		r := &http.Request{RemoteAddr: tc.remote}
		if got := clientAddr(r); got != tc.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tc.remote, got, tc.want)
		}
	}
}

// TestLoginGuardInflight checks the per-address cap on checks in flight
// and that finished checks leave no entry behind.
func TestLoginGuardInflight(t *testing.T) {
	g := newLoginGuard(LoginLimits{PerAddress: 2}, time.Now)
	l1, err := g.enter("a")
	if err != nil {
		t.Fatal(err)
	}
	l2, err := g.enter("a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.enter("a"); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("third check from a: %v, want ErrRateLimited", err)
	}
	l3, err := g.enter("b")
	if err != nil {
		t.Fatalf("first check from b: %v", err)
	}
	l1()
	l2()
	l3()
	if len(g.inflight) != 0 {
		t.Fatalf("entries left: %v", g.inflight)
	}
}

// TestTooManyRequestsStatus: every limit's refusal is 429 through the
// ErrTooManyRequests category, and only the login limiter's says
// "login": a user's activity-stream limit used to read "too many login
// attempts" (it wrapped ErrRateLimited).
func TestTooManyRequestsStatus(t *testing.T) {
	for _, tc := range []struct {
		err   error
		login bool
	}{
		{ErrRateLimited, true},
		{retryLater(ErrRateLimited, time.Second, "account locked for 1s after failed logins"), true},
		{fmt.Errorf("social: too many activity streams of yours: %w", ErrTooManyRequests), false},
	} {
		code, msg := statusOf(tc.err)
		if code != http.StatusTooManyRequests || strings.Contains(msg, "login") != tc.login {
			t.Errorf("statusOf(%v) = %d %q, want 429, mentions login %v", tc.err, code, msg, tc.login)
		}
	}
}
