package fetch

import (
	"container/list"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// Cache key prefixes on the device (docs/ARCHITECTURE.md §5).
const (
	prefixBlob     = "cache/blob/"
	prefixLRU      = "cache/lru/"
	prefixManifest = "cache/man/"
)

func blobKey(h [32]byte) []byte { return append([]byte(prefixBlob), hex.EncodeToString(h[:])...) }

func lruKey(seq uint64, h [32]byte) []byte {
	k := binary.BigEndian.AppendUint64([]byte(prefixLRU), seq)
	k = append(k, '/')
	return append(k, hex.EncodeToString(h[:])...)
}

// parseLRUKey splits "cache/lru/<u64 BE>/<hex>" into its parts.
func parseLRUKey(k []byte) (uint64, [32]byte, error) {
	var h [32]byte
	rest := k[len(prefixLRU):]
	if len(rest) != 8+1+64 || rest[8] != '/' {
		return 0, h, fmt.Errorf("fetch: malformed cache key %q", k)
	}
	if _, err := hex.Decode(h[:], rest[9:]); err != nil {
		return 0, h, fmt.Errorf("fetch: malformed cache key %q: %w", k, err)
	}
	return binary.BigEndian.Uint64(rest[:8]), h, nil
}

// entry is one cached blob. seq is its current recency; pseq the recency
// persisted in its cache/lru key (they differ after an unflushed touch).
type entry struct {
	hash [32]byte
	size int64
	seq  uint64
	pseq uint64
}

// cache is the device's encrypted-blob cache: content addressed, bounded
// in bytes, least recently used first out.
//
// The in-memory list is the truth for recency; the store holds blob bytes
// and one cache/lru key per blob. A read only touches memory; touches are
// persisted with the next insertion (in the same transaction as that
// insertion and its evictions) or by flush, so reads never write and the
// store is consistent after every write.
type cache struct {
	st  store.Store
	max int64
	log *slog.Logger

	mu      sync.Mutex
	seq     uint64
	total   int64
	order   *list.List // of *entry, most recent at the front
	byHash  map[[32]byte]*list.Element
	touched map[[32]byte]struct{}
}

// openCache rebuilds the recency list from the cache/lru keys.
func openCache(ctx context.Context, st store.Store, limit int64, log *slog.Logger) (*cache, error) {
	c := &cache{st: st, max: limit, log: log, order: list.New(), byHash: map[[32]byte]*list.Element{}, touched: map[[32]byte]struct{}{}}
	var stale [][]byte
	err := st.Iterate(ctx, []byte(prefixLRU), false, func(k, v []byte) error {
		seq, h, err := parseLRUKey(k)
		if err != nil || len(v) != 8 {
			stale = append(stale, append([]byte(nil), k...))
			return nil
		}
		if old, dup := c.byHash[h]; dup {
			stale = append(stale, lruKey(old.Value.(*entry).pseq, h))
			c.total -= old.Value.(*entry).size
			c.order.Remove(old)
		}
		e := &entry{hash: h, size: int64(binary.BigEndian.Uint64(v)), seq: seq, pseq: seq}
		c.byHash[h] = c.order.PushFront(e)
		c.total += e.size
		c.seq = max(c.seq, seq)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load cache index: %w", err)
	}
	for _, k := range stale {
		if err := st.Delete(ctx, k); err != nil {
			return nil, fmt.Errorf("drop stale cache key: %w", err)
		}
	}
	if err := c.trim(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// trimBatch is how many blobs one transaction of trim evicts, so a large
// cache opened with a small bound stays within a transaction's limits.
const trimBatch = 512

// trim evicts the least recently used blobs, from the store and the
// index, until the total fits the bound (all of them for a bound of 0):
// a cache opened with a smaller bound than it holds shrinks at once, not
// only as later insertions make room (never, for a bound below one
// blob, which is not cached).
func (c *cache) trim(ctx context.Context) error {
	for c.total > c.max {
		var evict []*list.Element
		total := c.total
		for el := c.order.Back(); el != nil && total > c.max && len(evict) < trimBatch; el = el.Prev() {
			evict = append(evict, el)
			total -= el.Value.(*entry).size
		}
		err := c.st.Update(ctx, func(tx store.Txn) error { return deleteEntries(tx, evict) })
		if err != nil {
			return fmt.Errorf("shrink cache to %d bytes: %w", c.max, err)
		}
		for _, el := range evict {
			c.remove(el)
		}
	}
	return nil
}

// get returns the cached blob with hash h (caller-owned), or ok=false.
// A blob whose bytes no longer hash to h is dropped and reported missing.
func (c *cache) get(ctx context.Context, h [32]byte) ([]byte, bool, error) {
	c.mu.Lock()
	_, ok := c.byHash[h]
	c.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	b, err := c.st.Get(ctx, blobKey(h))
	if errors.Is(err, store.ErrNotFound) {
		c.drop(ctx, h)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read cached blob: %w", err)
	}
	if crypto.BlobHash(b) != h {
		c.log.Warn("fetch: corrupt cache entry dropped", "hash", hex.EncodeToString(h[:]))
		c.drop(ctx, h)
		return nil, false, nil
	}
	c.mu.Lock()
	if el, ok := c.byHash[h]; ok {
		c.seq++
		el.Value.(*entry).seq = c.seq
		c.order.MoveToFront(el)
		c.touched[h] = struct{}{}
	}
	c.mu.Unlock()
	return b, true, nil
}

// drop removes the blob h from the cache (best effort: a failure is logged
// and the entry forgotten in memory, to be retried by the next insertion).
func (c *cache) drop(ctx context.Context, h [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byHash[h]
	if !ok {
		return
	}
	e := el.Value.(*entry)
	err := c.st.Update(ctx, func(tx store.Txn) error {
		if err := tx.Delete(blobKey(h)); err != nil {
			return err
		}
		return tx.Delete(lruKey(e.pseq, h))
	})
	if err != nil {
		c.log.Warn("fetch: drop cache entry", "hash", hex.EncodeToString(h[:]), "err", err)
	}
	c.remove(el)
}

func (c *cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.order.Remove(el)
	delete(c.byHash, e.hash)
	delete(c.touched, e.hash)
	c.total -= e.size
}

// put inserts blob b with hash h, evicting least recently used blobs in
// the same transaction until the total fits the bound. A blob larger than
// the whole bound is not cached. Pending touches are persisted too.
func (c *cache) put(ctx context.Context, h [32]byte, b []byte) error {
	size := int64(len(b))
	if size > c.max {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byHash[h]; ok {
		return nil
	}
	var evict []*list.Element
	total := c.total
	for el := c.order.Back(); el != nil && total+size > c.max; el = el.Prev() {
		evict = append(evict, el)
		total -= el.Value.(*entry).size
	}
	seq := c.seq + 1
	err := c.st.Update(ctx, func(tx store.Txn) error {
		if err := deleteEntries(tx, evict); err != nil {
			return err
		}
		if err := c.persistTouches(tx, evict); err != nil {
			return err
		}
		if err := tx.Set(blobKey(h), b); err != nil {
			return err
		}
		return tx.Set(lruKey(seq, h), binary.BigEndian.AppendUint64(nil, uint64(size)))
	})
	if err != nil {
		return fmt.Errorf("cache blob: %w", err)
	}
	for _, el := range evict {
		c.remove(el)
	}
	c.touchesPersisted()
	c.seq = seq
	c.byHash[h] = c.order.PushFront(&entry{hash: h, size: size, seq: seq, pseq: seq})
	c.total += size
	return nil
}

// persistTouches moves the lru key of every touched entry (not being
// evicted) to its current sequence. Caller holds c.mu.
func (c *cache) persistTouches(tx store.Txn, evict []*list.Element) error {
	skip := make(map[[32]byte]bool, len(evict))
	for _, el := range evict {
		skip[el.Value.(*entry).hash] = true
	}
	for h := range c.touched {
		e := c.byHash[h].Value.(*entry)
		if skip[h] || e.seq == e.pseq {
			continue
		}
		if err := tx.Delete(lruKey(e.pseq, h)); err != nil {
			return err
		}
		if err := tx.Set(lruKey(e.seq, h), binary.BigEndian.AppendUint64(nil, uint64(e.size))); err != nil {
			return err
		}
	}
	return nil
}

// touchesPersisted records that persistTouches committed. Caller holds c.mu.
func (c *cache) touchesPersisted() {
	for h := range c.touched {
		e := c.byHash[h].Value.(*entry)
		e.pseq = e.seq
	}
	clear(c.touched)
}

// flush persists pending touches.
func (c *cache) flush(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.touched) == 0 {
		return nil
	}
	if err := c.st.Update(ctx, func(tx store.Txn) error { return c.persistTouches(tx, nil) }); err != nil {
		return fmt.Errorf("flush cache recency: %w", err)
	}
	c.touchesPersisted()
	return nil
}

// stats returns the number of cached blobs and their total size.
func (c *cache) stats() (blobs int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len(), c.total
}

// deleteEntries deletes the blobs of the entries in els and their
// recency records in tx.
func deleteEntries(tx store.Txn, els []*list.Element) error {
	for _, el := range els {
		e := el.Value.(*entry)
		if err := tx.Delete(blobKey(e.hash)); err != nil {
			return err
		}
		if err := tx.Delete(lruKey(e.pseq, e.hash)); err != nil {
			return err
		}
	}
	return nil
}
