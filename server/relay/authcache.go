package relay

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// authCache keeps recently resolved device tokens so that a request does
// not pay two Badger reads and two CBOR decodes for its bearer token.
//
// Soundness rests on a generation counter: every change to a device or
// token record (registration, deregistration) calls invalidate once its
// transaction has committed, which bumps the generation, and an entry is
// used only when it was filled under the current generation. A lookup
// reads the generation before it reads the store, so an entry filled from
// a read that raced with a deletion carries the old generation and is
// never used. Token expiry is checked on every hit against the relay's
// clock. Entries are keyed by the token's SHA-256 and compare it in full
// on a hit, so a hash collision in the cache cannot lend one device's
// identity to another token.
type authCache struct {
	gen atomic.Uint64
	c   *ristretto.Cache[uint64, *authEntry] // nil: caching disabled
}

// session is what a valid bearer token resolves to: its device and the
// token's expiry. A cached session is shared by every request that hits
// it; nothing modifies it or the Device's slices.
type session struct {
	Device  Device
	Expires time.Time
}

// authEntry is one resolved token under the generation it was read in.
type authEntry struct {
	sum [32]byte
	gen uint64
	s   session
}

// cacheKey is the ristretto key of a token hash: its first 8 bytes. Two
// tokens sharing them only evict each other; get compares the whole hash.
func cacheKey(sum [32]byte) uint64 { return binary.LittleEndian.Uint64(sum[:8]) }

// newAuthCache returns a cache of at most entries tokens; entries ≤ 0
// disables it (every lookup misses, every fill is dropped).
func newAuthCache(entries int) *authCache {
	a := &authCache{}
	if entries <= 0 {
		return a
	}
	// NewCache refuses only zero counters, cost or buffers, which
	// entries > 0 rules out; a refusal would leave caching off, which is
	// still correct.
	if c, err := ristretto.NewCache(&ristretto.Config[uint64, *authEntry]{
		NumCounters: int64(entries) * 10,
		MaxCost:     int64(entries),
		BufferItems: 64,
	}); err == nil {
		a.c = c
	}
	return a
}

// generation returns the value to pass to fill for a store read that
// starts now.
func (a *authCache) generation() uint64 { return a.gen.Load() }

// get returns the cached session of the token whose SHA-256 is sum, if an
// entry of the current generation exists. The session is shared: read
// only.
func (a *authCache) get(sum [32]byte) (*session, bool) {
	if a.c == nil {
		return nil, false
	}
	e, ok := a.c.Get(cacheKey(sum))
	if !ok || e.sum != sum || e.gen != a.gen.Load() {
		return nil, false
	}
	return &e.s, true
}

// fill caches s, read from the store under generation gen, for ttl (the
// time left until the token expires; nothing is cached when ttl ≤ 0). It
// returns the session to hand to the request, which the cache may share.
func (a *authCache) fill(sum [32]byte, s session, gen uint64, ttl time.Duration) *session {
	e := &authEntry{sum: sum, gen: gen, s: s}
	if a.c != nil && ttl > 0 && gen == a.gen.Load() {
		a.c.SetWithTTL(cacheKey(sum), e, 1, ttl)
	}
	return &e.s
}

// invalidate makes every entry filled before it unusable. Callers call it
// after committing a change to any device or token record.
func (a *authCache) invalidate() { a.gen.Add(1) }

// close stops the cache's goroutines.
func (a *authCache) close() {
	if a.c != nil {
		a.c.Close()
	}
}
