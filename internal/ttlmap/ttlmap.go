// Package ttlmap is a bounded in-memory map whose entries expire a fixed
// time after they were put: what an engine already fetched, verified or
// decoded this session (album answers, manifests, prefetched heads), kept
// so that a play does not wait for it again.
//
//	m := ttlmap.New[string, []byte](64, 10*time.Minute, time.Now)
//	m.Put("a", b)
//	v, ok := m.Get("a") // ok until 10 minutes after the Put
package ttlmap

import (
	"sync"
	"time"
)

// Map is a map of at most max entries, each fresh for ttl after its Put,
// on the clock now. When a Put of a new key finds it full, expired
// entries are dropped, then the one expiring first. Safe for concurrent
// use. Values are stored and returned as given: Map never copies them.
type Map[K comparable, V any] struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	entries map[K]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns an empty Map of at most max (≥ 1) entries, each fresh for
// ttl, on the clock now.
func New[K comparable, V any](max int, ttl time.Duration, now func() time.Time) *Map[K, V] {
	return &Map[K, V]{max: max, ttl: ttl, now: now, entries: map[K]entry[V]{}}
}

// Get returns the value of k while it is fresh.
func (m *Map[K, V]) Get(k K) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[k]
	if !ok || !m.now().Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put keeps v for k, fresh for the Map's TTL from now.
func (m *Map[K, V]) Put(k K, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if _, ok := m.entries[k]; !ok && len(m.entries) >= m.max {
		for key, e := range m.entries {
			if !now.Before(e.expires) {
				delete(m.entries, key)
			}
		}
		if len(m.entries) >= m.max {
			var first K
			var at time.Time
			for key, e := range m.entries {
				if at.IsZero() || e.expires.Before(at) {
					first, at = key, e.expires
				}
			}
			delete(m.entries, first)
		}
	}
	m.entries[k] = entry[V]{v: v, expires: now.Add(m.ttl)}
}

// Len returns the number of entries held, expired ones included.
func (m *Map[K, V]) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

// Clear drops every entry.
func (m *Map[K, V]) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.entries)
}
