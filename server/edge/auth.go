package edge

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/relay"
)

// maxCheckAddrs bounds the client addresses whose token-check rate the
// edge tracks; the least recently seen is forgotten first.
const maxCheckAddrs = 1 << 16

// rateLimited is ErrRateLimited with how long until the client's next
// token check may be made.
type rateLimited struct{ wait time.Duration }

func (r *rateLimited) Error() string {
	return fmt.Sprintf("%v: retry in %s", ErrRateLimited, r.wait.Round(time.Millisecond))
}

func (r *rateLimited) Unwrap() error { return ErrRateLimited }

// Bounds of the token verdict cache. Accepted and refused verdicts are
// kept apart, so refusals — which anyone can cause with made-up tokens —
// never evict an accepted one.
const (
	// maxVerdicts bounds the accepted verdicts (fresh or expired): when
	// full, the expired ones are dropped, and if none was, all.
	maxVerdicts = 1 << 16
	// maxRefusals bounds the refused verdicts; they are emptied when full.
	maxRefusals = 1 << 12
)

// verdict is the parent's answer about one token, trusted until until:
// accepted or not, and for an accepted token the device it names (the
// device_id of the parent's /v1/me answer).
type verdict struct {
	ok     bool
	device model.DeviceID
	until  time.Time
}

// verdicts caches the parent's verdicts on device tokens, keyed by the
// token's SHA-256 (the edge keeps no token in memory longer than a
// request). An accepted verdict is kept after it expires (until room is
// needed), so the token's next check is known to be a renewal.
type verdicts struct {
	mu      sync.Mutex
	now     func() time.Time
	ok      map[[32]byte]verdict
	refused map[[32]byte]verdict
}

func newVerdicts(now func() time.Time) *verdicts {
	return &verdicts{now: now, ok: make(map[[32]byte]verdict), refused: make(map[[32]byte]verdict)}
}

// get returns the verdict on h while it holds; accepted reports whether
// the parent has accepted h before (even if that verdict expired).
func (v *verdicts) get(h [32]byte) (d verdict, known, accepted bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	if d, found := v.refused[h]; found && now.Before(d.until) {
		return d, true, false
	}
	d, found := v.ok[h]
	if found && now.Before(d.until) {
		return d, true, true
	}
	return verdict{}, false, found
}

func (v *verdicts) put(h [32]byte, d verdict, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	now := v.now()
	d.until = now.Add(ttl)
	if !d.ok {
		if len(v.refused) >= maxRefusals {
			clear(v.refused)
		}
		v.refused[h] = d
		return
	}
	delete(v.refused, h)
	if _, found := v.ok[h]; !found && len(v.ok) >= maxVerdicts {
		for k, o := range v.ok {
			if !now.Before(o.until) {
				delete(v.ok, k)
			}
		}
		if len(v.ok) >= maxVerdicts {
			clear(v.ok)
		}
	}
	v.ok[h] = d
}

// refuse replaces the verdict on h by a refusal kept ttl (none kept when
// ttl ≤ 0: the next request asks the parent).
func (v *verdicts) refuse(h [32]byte, ttl time.Duration) {
	v.mu.Lock()
	delete(v.ok, h)
	delete(v.refused, h)
	v.mu.Unlock()
	v.put(h, verdict{}, ttl)
}

// size returns how many accepted and refused verdicts are held.
func (v *verdicts) size() (ok, refused int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.ok), len(v.refused)
}

// meAnswer is the part of the parent's GET /v1/me answer the edge reads.
type meAnswer struct {
	Device struct {
		ID model.DeviceID `json:"device_id"`
	} `json:"device"`
}

// checkToken returns the parent's verdict on tok: it asks GET /v1/me
// (200 = accepted, for the device its body names; 401 = refused; anything
// else, or a 200 without a device id, is an error and is not remembered)
// at most once per token per TTL, and concurrent checks of one token
// share one request.
//
// A token longer than the relay accepts is refused without asking. A
// token the parent has not accepted before is checked at most at the
// client address's rate (Options.WithTokenCheckRate); past it the answer
// is ErrRateLimited, with how long until the next check may be made.
func (e *Edge) checkToken(ctx context.Context, tok, addr string) (verdict, error) {
	if len(tok) > relay.MaxTokenLen {
		return verdict{}, nil
	}
	h := sha256.Sum256([]byte(tok))
	d, known, accepted := e.auth.get(h)
	if known {
		return d, nil
	}
	if !accepted {
		if ok, wait := e.checks.Allow(addr, e.opts.now()); !ok {
			e.checksLimited.Add(1)
			return verdict{}, &rateLimited{wait: wait}
		}
	}
	ch := e.flight.DoChan("auth "+string(h[:]), func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.opts.originTimeout)
		defer cancel()
		status, hdr, body, err := e.get(fctx, "/v1/me", tok, 64<<10, nil)
		if err != nil {
			return verdict{}, err
		}
		switch status {
		case http.StatusOK:
			var me meAnswer
			if err := json.Unmarshal(body, &me); err != nil || me.Device.ID == "" || len(me.Device.ID) > access.MaxFieldLen {
				return verdict{}, fmt.Errorf("%w: /v1/me answered without a device id", ErrParent)
			}
			d := verdict{ok: true, device: me.Device.ID}
			e.auth.put(h, d, e.opts.authTTL)
			return d, nil
		case http.StatusUnauthorized:
			e.auth.put(h, verdict{}, e.opts.authFailTTL)
			return verdict{}, nil
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return verdict{}, &parentStatus{code: status, body: body, retryAfter: hdr.Get("Retry-After")}
		}
		return verdict{}, fmt.Errorf("%w: /v1/me answered %d", ErrParent, status)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return verdict{}, res.Err
		}
		return res.Val.(verdict), nil
	case <-ctx.Done():
		return verdict{}, ctx.Err()
	}
}

// maxPositions bounds the position → hash map; it is emptied when full.
const maxPositions = 1 << 20

// position is where a positional URL pointed, trusted until until.
type position struct {
	k     objKey
	until time.Time
}

// posCache maps positional paths (manifest, header, chunk of a track and
// tier) to the object they named, for the parent's max-age.
type posCache struct {
	mu  sync.Mutex
	now func() time.Time
	m   map[string]position
}

func newPosCache(now func() time.Time) *posCache {
	return &posCache{now: now, m: make(map[string]position)}
}

func (p *posCache) get(path string) (objKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	d, ok := p.m[path]
	if !ok || !p.now().Before(d.until) {
		return objKey{}, false
	}
	return d.k, true
}

func (p *posCache) put(path string, k objKey, age time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) >= maxPositions {
		clear(p.m)
	}
	p.m[path] = position{k: k, until: p.now().Add(age)}
}
