package relay

import (
	"container/list"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Errors of the password-check guards, with a Retry-After (see RetryAfter).
var (
	// ErrRateLimited: too many failed password checks for the account or
	// from the client address, or too many checks in flight from the
	// address (429 with Retry-After). It is an ErrTooManyRequests.
	ErrRateLimited = fmt.Errorf("relay: too many login attempts: %w", ErrTooManyRequests)
	// ErrBusy: every password-hashing slot is taken and the wait queue is
	// full, or the wait ran out (503 with Retry-After).
	ErrBusy = errors.New("relay: busy, retry later")
)

// retryError is an error that tells the client when to retry; the error
// handler sends after, in whole seconds, as the Retry-After header.
type retryError struct {
	err   error
	after time.Duration
}

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// RetryAfter returns how long err asks the client to wait before
// retrying (ErrRateLimited, ErrBusy), rounded up to whole seconds and at
// least one, and false for any other error.
func RetryAfter(err error) (time.Duration, bool) {
	var re *retryError
	if !errors.As(err, &re) {
		return 0, false
	}
	return wholeSeconds(re.after), true
}

// wholeSeconds is d rounded up to whole seconds, at least one: the wait
// a Retry-After header states, and the one a refusal's message names.
func wholeSeconds(d time.Duration) time.Duration {
	r := d.Round(time.Second)
	if r < d {
		r += time.Second
	}
	return max(r, time.Second)
}

// RetryLater returns err with after as its Retry-After (RetryAfter), for
// limits outside this package; err should wrap ErrTooManyRequests (429)
// or ErrBusy (503).
func RetryLater(err error, after time.Duration) error {
	return &retryError{err: err, after: after}
}

func retryLater(err error, after time.Duration, format string, args ...any) error {
	return &retryError{err: fmt.Errorf("%w: "+format, append([]any{err}, args...)...), after: after}
}

// LoginLimits configures the brute-force limiter of password checks
// (POST /v1/devices). Failures are counted separately per account and per
// client address; once a key has had Free failures, every further failure
// blocks it for Base, doubling with each failure up to Max, and a request
// for a blocked key is answered 429 with Retry-After without checking the
// password. A key's failures are forgotten once it has gone Max without
// a failure after its last block ended; a successful login clears its
// account's failures (not its address's).
type LoginLimits struct {
	// Free is the number of failures allowed before backoff starts.
	Free int
	// Base is the first backoff; it doubles with every further failure.
	Base time.Duration
	// Max caps the backoff, and is how long a key must stay quiet after
	// its last block for its failures to be forgotten.
	Max time.Duration
	// Entries bounds each table (accounts, addresses); when one is full,
	// the key with the oldest failure is evicted, among keys still within
	// Free while there are any, else among those past it.
	Entries int
	// PerAddress is how many password checks (and signups) one client
	// address may have in flight; more get 429.
	PerAddress int
}

// DefaultLoginLimits: 5 free failures, then 1 s doubling up to 15 min,
// 10,000 accounts and 10,000 addresses tracked (about 1 MiB each), 8
// checks in flight per address.
var DefaultLoginLimits = LoginLimits{Free: 5, Base: time.Second, Max: 15 * time.Minute, Entries: 10_000, PerAddress: 8}

// normalized returns l with every field at least its smallest useful value.
func (l LoginLimits) normalized() LoginLimits {
	l.Free = max(l.Free, 0)
	l.Base = max(l.Base, time.Millisecond)
	l.Max = max(l.Max, l.Base)
	l.Entries = max(l.Entries, 1)
	l.PerAddress = max(l.PerAddress, 1)
	return l
}

// failures is one key's record in a backoffTable.
type failures struct {
	key   string
	n     int       // failures counted
	until time.Time // blocked before this time; the last failure's time when not blocked
}

// backoffTable counts failures per key with exponential backoff, holding
// at most lim.Entries keys. Keys still within Free failures and keys past
// it (blocked at least once) are kept in two lists, each least recently
// failed last; a full table evicts from the first list, and from the
// second only when the first is empty. So a flood of single failures on
// many keys (made-up usernames from many addresses) evicts only other such
// keys, never the record that keeps a guessed account blocked: with one
// list, 10,000 of them cleared its backoff and the guessing started over
// with Free free failures. Not safe for concurrent use; loginGuard locks
// it.
type backoffTable struct {
	lim     LoginLimits
	fresh   *list.List // of *failures within Free, most recently failed at the front
	blocked *list.List // of *failures past Free, most recently failed at the front
	byKey   map[string]*list.Element
}

func newBackoffTable(lim LoginLimits) *backoffTable {
	return &backoffTable{lim: lim, fresh: list.New(), blocked: list.New(), byKey: make(map[string]*list.Element)}
}

// listOf returns the list holding f.
func (t *backoffTable) listOf(f *failures) *list.List {
	if f.n > t.lim.Free {
		return t.blocked
	}
	return t.fresh
}

// len returns the number of keys held.
func (t *backoffTable) len() int { return t.fresh.Len() + t.blocked.Len() }

// remove drops el, f's element, from the table.
func (t *backoffTable) remove(el *list.Element, f *failures) {
	t.listOf(f).Remove(el)
	delete(t.byKey, f.key)
}

// entry returns key's live record, dropping one whose failures have been
// forgotten (Max after its block ended, or after its last failure when
// it was not blocked).
func (t *backoffTable) entry(key string, now time.Time) *failures {
	el, ok := t.byKey[key]
	if !ok {
		return nil
	}
	f := el.Value.(*failures)
	if !now.Before(f.until.Add(t.lim.Max)) {
		t.remove(el, f)
		return nil
	}
	return f
}

// blockedFor returns how long key stays blocked at now (0: not blocked).
func (t *backoffTable) blockedFor(key string, now time.Time) time.Duration {
	if f := t.entry(key, now); f != nil && now.Before(f.until) {
		return f.until.Sub(now)
	}
	return 0
}

// fail counts a failure of key at now and returns the block it starts
// (0 while within Free).
func (t *backoffTable) fail(key string, now time.Time) time.Duration {
	f := t.entry(key, now)
	if f == nil {
		if t.len() >= t.lim.Entries {
			victims := t.fresh
			if victims.Len() == 0 {
				victims = t.blocked
			}
			old := victims.Back()
			t.remove(old, old.Value.(*failures))
		}
		f = &failures{key: key}
	} else {
		t.listOf(f).Remove(t.byKey[key])
	}
	f.n++
	t.byKey[key] = t.listOf(f).PushFront(f)
	f.until = now
	over := f.n - t.lim.Free
	if over <= 0 {
		return 0
	}
	d := t.lim.Max
	if over <= 40 {
		d = min(t.lim.Base<<(over-1), t.lim.Max)
	}
	f.until = now.Add(d)
	return d
}

// reset forgets key's failures.
func (t *backoffTable) reset(key string) {
	if el, ok := t.byKey[key]; ok {
		t.remove(el, el.Value.(*failures))
	}
}

// loginGuard is the relay's limiter of password checks: failure backoff
// per account and per client address, and a cap on checks in flight per
// address. Safe for concurrent use.
type loginGuard struct {
	lim      LoginLimits
	now      func() time.Time
	mu       sync.Mutex
	accounts *backoffTable
	addrs    *backoffTable
	inflight map[string]int // by address; entries at zero are deleted
}

func newLoginGuard(lim LoginLimits, now func() time.Time) *loginGuard {
	lim = lim.normalized()
	return &loginGuard{lim: lim, now: now, accounts: newBackoffTable(lim), addrs: newBackoffTable(lim), inflight: make(map[string]int)}
}

// enter admits one password check (or signup) from addr, refusing with
// ErrRateLimited when addr already has PerAddress in flight. Call the
// returned function when the check is done.
func (g *loginGuard) enter(addr string) (func(), error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.inflight[addr] >= g.lim.PerAddress {
		return nil, retryLater(ErrRateLimited, time.Second, "%d checks in flight from your address", g.lim.PerAddress)
	}
	g.inflight[addr]++
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.inflight[addr]--; g.inflight[addr] <= 0 {
			delete(g.inflight, addr)
		}
	}, nil
}

// allow refuses with ErrRateLimited while the account user or the address
// addr is blocked.
func (g *loginGuard) allow(user, addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if d := g.accounts.blockedFor(user, now); d > 0 {
		return retryLater(ErrRateLimited, d, "account locked for %s after failed logins", wholeSeconds(d))
	}
	if d := g.addrs.blockedFor(addr, now); d > 0 {
		return retryLater(ErrRateLimited, d, "address locked for %s after failed logins", wholeSeconds(d))
	}
	return nil
}

// failed counts a failed check of user from addr.
func (g *loginGuard) failed(user, addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	g.accounts.fail(user, now)
	g.addrs.fail(addr, now)
}

// allowAddr refuses with ErrRateLimited while addr is blocked (failed
// logins and wrong admin tokens count alike).
func (g *loginGuard) allowAddr(addr string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if d := g.addrs.blockedFor(addr, g.now()); d > 0 {
		return retryLater(ErrRateLimited, d, "address locked for %s after failed credentials", wholeSeconds(d))
	}
	return nil
}

// failedAddr counts a failed check from addr that names no account: a
// wrong admin token.
func (g *loginGuard) failedAddr(addr string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.addrs.fail(addr, g.now())
}

// succeeded clears the failures of user (the address keeps its count, so
// an attacker cannot reset it by logging in to an account of their own).
func (g *loginGuard) succeeded(user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.accounts.reset(user)
}

// clientAddr is the limiter key of r's client: its IP address from the
// connection (X-Forwarded-For is not trusted), IPv6 addresses reduced to
// their /64 (one subscriber's allocation).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}
