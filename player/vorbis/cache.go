package vorbis

import (
	"container/list"
	"crypto/sha256"
	"sync"
)

// SetupCache keeps the tables parsed from the most recently used setup
// headers, so a decoder whose stream carries a setup header already seen
// skips parsing it (codebooks, floors, residues, mappings, modes). An
// encoder emits the same setup header for every stream of one mode,
// sample rate and channel count, so the tracks of an album at one quality
// usually share one entry.
//
// Entries are keyed by the SHA-256 of the setup packet together with the
// identification-header fields its parse depends on (channel count and
// block sizes): a packet that differs in any byte is a different entry.
// Cached tables are read-only and shared by every decoder that uses
// them. A SetupCache is safe for concurrent use; a nil *SetupCache
// caches nothing.
type SetupCache struct {
	mu     sync.Mutex
	max    int
	order  *list.List // of *setupEntry, most recently used first
	byKey  map[[sha256.Size]byte]*list.Element
	hits   uint64
	misses uint64
}

type setupEntry struct {
	key [sha256.Size]byte
	s   *setup
}

// SetupCacheStats counts a SetupCache's lookups and entries.
type SetupCacheStats struct {
	Hits, Misses uint64 // lookups that found, or did not find, an entry
	Len          int    // entries held, at most the cache's size
}

// NewSetupCache returns a cache holding at most n setups (n < 1 counts
// as 1); adding one more evicts the least recently used.
func NewSetupCache(n int) *SetupCache {
	return &SetupCache{max: max(n, 1), order: list.New(), byKey: make(map[[sha256.Size]byte]*list.Element)}
}

// Stats returns the cache's counters; the zero value for a nil cache.
func (c *SetupCache) Stats() SetupCacheStats {
	if c == nil {
		return SetupCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return SetupCacheStats{Hits: c.hits, Misses: c.misses, Len: c.order.Len()}
}

// get returns the setup stored under key and marks it most recently
// used, or nil.
func (c *SetupCache) get(key [sha256.Size]byte) *setup {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		c.misses++
		return nil
	}
	c.hits++
	c.order.MoveToFront(e)
	return e.Value.(*setupEntry).s
}

// add stores s under key as the most recently used entry, evicting the
// least recently used beyond the cache's size. A key already present
// (two decoders parsed the same setup at once) keeps its first setup.
func (c *SetupCache) add(key [sha256.Size]byte, s *setup) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[key] = c.order.PushFront(&setupEntry{key: key, s: s})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.byKey, last.Value.(*setupEntry).key)
	}
}

// setupKey is the cache key of setup packet p in a stream described by
// info: SHA-256 over the channel count, the block sizes and p.
func setupKey(info Info, p []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte{byte(info.Channels), byte(ilog(info.BlockSizes[0])), byte(ilog(info.BlockSizes[1]))})
	h.Write(p)
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}
