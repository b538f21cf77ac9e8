package engine

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/segue-fm/segue/store"
)

// CachePrefixes are the key prefixes of core/fetch's encrypted blob cache
// (blobs and their recency index): what the web player keeps in memory
// while everything else (signed manifests, downloads and licenses, the
// pinned catalog key, history) is in IndexedDB.
var CachePrefixes = []string{"cache/blob/", "cache/lru/"}

// Split is a store.Store that keeps keys under some prefixes in one store
// (mem) and every other key in another (persist). The web player uses it
// so that streaming writes no IndexedDB transaction per blob (its commits
// cost main-thread time the audio output needs) while downloads and
// licenses persist.
//
// An Update touching both stores commits mem's writes first, then
// persist's: atomic per store, not across them, so mem must hold only
// what can be lost or found stale (a cache that is verified on read).
// Iterating a prefix that spans both merges their keys in order. Close
// closes both.
type Split struct {
	mem, persist store.Store
	prefixes     [][]byte
}

// NewSplit returns a Split keeping keys under memPrefixes in mem and the
// rest in persist. It owns both stores.
func NewSplit(persist, mem store.Store, memPrefixes ...string) *Split {
	s := &Split{mem: mem, persist: persist}
	for _, p := range memPrefixes {
		s.prefixes = append(s.prefixes, []byte(p))
	}
	return s
}

func (s *Split) inMem(key []byte) bool {
	for _, p := range s.prefixes {
		if bytes.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// span tells where keys under prefix may be: in mem only, persist only,
// or both.
func (s *Split) span(prefix []byte) (mem, persist bool) {
	if s.inMem(prefix) {
		return true, false
	}
	for _, p := range s.prefixes {
		if bytes.HasPrefix(p, prefix) {
			return true, true
		}
	}
	return false, true
}

func (s *Split) of(key []byte) store.Store {
	if s.inMem(key) {
		return s.mem
	}
	return s.persist
}

// Get implements store.Store.
func (s *Split) Get(ctx context.Context, key []byte) ([]byte, error) { return s.of(key).Get(ctx, key) }

// Set implements store.Store.
func (s *Split) Set(ctx context.Context, key, value []byte) error {
	return s.of(key).Set(ctx, key, value)
}

// Delete implements store.Store.
func (s *Split) Delete(ctx context.Context, key []byte) error { return s.of(key).Delete(ctx, key) }

// Iterate implements store.Store.
func (s *Split) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	m, p := s.span(prefix)
	switch {
	case !p:
		return s.mem.Iterate(ctx, prefix, reverse, fn)
	case !m:
		return s.persist.Iterate(ctx, prefix, reverse, fn)
	}
	return mergeIterate(prefix, reverse, fn, func(pre []byte, rev bool, f func(k, v []byte) error) error {
		return s.mem.Iterate(ctx, pre, rev, f)
	}, func(pre []byte, rev bool, f func(k, v []byte) error) error {
		return s.persist.Iterate(ctx, pre, rev, f)
	})
}

type iterFunc func(prefix []byte, reverse bool, fn func(k, v []byte) error) error

// mergeIterate collects both sides' keys under prefix and calls fn in
// order. The sides hold disjoint keys.
func mergeIterate(prefix []byte, reverse bool, fn func(k, v []byte) error, a, b iterFunc) error {
	type kv struct{ k, v []byte }
	var all []kv
	collect := func(k, v []byte) error {
		all = append(all, kv{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}
	if err := a(prefix, false, collect); err != nil {
		return err
	}
	if err := b(prefix, false, collect); err != nil {
		return err
	}
	slices.SortFunc(all, func(x, y kv) int { return bytes.Compare(x.k, y.k) })
	if reverse {
		slices.Reverse(all)
	}
	for _, e := range all {
		if err := fn(e.k, e.v); err != nil {
			if errors.Is(err, store.ErrStop) {
				return nil
			}
			return err
		}
	}
	return nil
}

// Update implements store.Store: fn runs inside a transaction of each
// store; mem commits first (see Split).
func (s *Split) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	return s.persist.Update(ctx, func(ptx store.Txn) error {
		return s.mem.Update(ctx, func(mtx store.Txn) error {
			return fn(splitTxn{s: s, mem: mtx, persist: ptx})
		})
	})
}

// Close closes both stores.
func (s *Split) Close() error { return errors.Join(s.mem.Close(), s.persist.Close()) }

type splitTxn struct {
	s            *Split
	mem, persist store.Txn
}

func (t splitTxn) of(key []byte) store.Txn {
	if t.s.inMem(key) {
		return t.mem
	}
	return t.persist
}

func (t splitTxn) Get(key []byte) ([]byte, error) { return t.of(key).Get(key) }
func (t splitTxn) Set(key, value []byte) error    { return t.of(key).Set(key, value) }
func (t splitTxn) Delete(key []byte) error        { return t.of(key).Delete(key) }

func (t splitTxn) Iterate(prefix []byte, reverse bool, fn func(key, value []byte) error) error {
	m, p := t.s.span(prefix)
	switch {
	case !p:
		return t.mem.Iterate(prefix, reverse, fn)
	case !m:
		return t.persist.Iterate(prefix, reverse, fn)
	}
	return mergeIterate(prefix, reverse, fn, t.mem.Iterate, t.persist.Iterate)
}
