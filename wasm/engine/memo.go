package engine

import (
	"sync"
	"time"
)

// Bounds of the engine's memory caches.
const (
	// maxMemoAlbums bounds the album answers kept in memory.
	maxMemoAlbums = 64
	// maxMemoManifests bounds the verified manifests kept in memory.
	maxMemoManifests = 256
)

// memo is a bounded map whose entries expire ttl after they were put:
// what the engine already fetched and verified this session (album
// answers, manifests), so that playing them does not wait for IndexedDB
// or a signature check again. When full, expired entries are dropped,
// then an arbitrary one.
type memo[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[K]memoEntry[V]
}

type memoEntry[V any] struct {
	v       V
	expires time.Time
}

func newMemo[K comparable, V any](max int, ttl time.Duration, now func() time.Time) *memo[K, V] {
	return &memo[K, V]{max: max, ttl: ttl, now: now, entries: map[K]memoEntry[V]{}}
}

// get returns the value of k while fresh.
func (m *memo[K, V]) get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if !ok || !m.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v for k.
func (m *memo[K, V]) put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, ok := m.entries[k]; !ok && len(m.entries) >= m.max {
		for key, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, key)
			}
		}
		for key := range m.entries {
			if len(m.entries) < m.max {
				break
			}
			delete(m.entries, key)
		}
	}
	m.entries[k] = memoEntry[V]{v: v, expires: now.Add(m.ttl)}
}

// clear drops every entry.
func (m *memo[K, V]) clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
}
