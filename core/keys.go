package core

import (
	"context"
	"encoding/base64"
	"fmt"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// keyEntry is a content key held in memory until expires.
type keyEntry struct {
	key     crypto.ContentKey
	expires time.Time
}

// keyCache holds streaming content keys in memory only, each for a TTL.
type keyCache struct {
	ttl     time.Duration
	mu      sync.Mutex
	entries map[string]keyEntry
}

func keyID(track model.TrackID, tier model.Tier) string { return string(track) + "\x00" + string(tier) }

func (c *keyCache) get(id string, now time.Time) (crypto.ContentKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return crypto.ContentKey{}, false
	}
	if !now.Before(e.expires) {
		delete(c.entries, id)
		return crypto.ContentKey{}, false
	}
	return e.key, true
}

func (c *keyCache) put(id string, k crypto.ContentKey, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, e := range c.entries {
		if !now.Before(e.expires) {
			delete(c.entries, id)
		}
	}
	c.entries[id] = keyEntry{key: k, expires: now.Add(c.ttl)}
}

func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
}

// contentKey returns the content key of (track, tier): from memory while
// it is fresh, else from POST /v1/keys/stream, unwrapped with the device's
// HPKE key. Keys never touch disk.
func (e *Engine) contentKey(ctx context.Context, track model.TrackID, tier model.Tier) (crypto.ContentKey, error) {
	if k, ok, err := e.offlineKey(ctx, track, tier); ok { // offline licenses (offline.go)
		return k, err
	}
	id := keyID(track, tier)
	if k, ok := e.keys.get(id, e.opts.clock.Now()); ok {
		return k, nil
	}
	in := api.StreamKeyRequest{Track: track, Tier: tier}
	var out streamKeyAnswer
	nonce := statementNonce()
	if err := e.call(ctx, "POST", "/v1/keys/stream?nonce="+base64.RawURLEncoding.EncodeToString(nonce), in, &out, true); err != nil {
		return crypto.ContentKey{}, fmt.Errorf("core: content key %s/%s: %w", track, tier, err)
	}
	e.observeStatement(ctx, out.statement, nonce) // signed server time (offline.go)
	k, err := e.id.UnwrapContentKey(crypto.StreamKeyInfo(track, tier), out.Wrapped)
	if err != nil {
		return crypto.ContentKey{}, fmt.Errorf("core: unwrap content key %s/%s: %w", track, tier, err)
	}
	e.keys.put(id, k, e.opts.clock.Now())
	return k, nil
}
