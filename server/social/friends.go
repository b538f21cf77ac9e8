package social

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// friendIndex is the follow graph in memory, so that a publication finds
// the publisher's friends without reading the store (two prefix scans
// each before). It is built from the store's soc/fo/ keys on first use
// (or by Service.LoadGraph at the relay's start) and changed by Follow,
// Unfollow and Block right after their transaction commits, under wmu,
// which serialises those writes so that the index applies them in the
// store's order. It holds at most max follow edges (WithFriendIndex,
// default 10,000,000: about 16 bytes per edge and direction, plus one
// string per user); a graph that grows past it turns the index off until
// the relay restarts, and friends are read from the store again.
//
// Unblock changes no follow, so it does not touch the index. Follow keys
// written outside the Service (ImportFollow, for importers and load
// generators) must be written before the Service reads the graph.
type friendIndex struct {
	max int

	wmu sync.Mutex // held across a graph write's transaction and its index update

	mu     sync.RWMutex
	loaded bool
	off    bool // over max: friends come from the store
	edges  int
	fo     map[model.UserID][]model.UserID // user → followees, ascending
	fi     map[model.UserID][]model.UserID // user → followers, ascending
	names  map[string]model.UserID         // one string per user name
}

func newFriendIndex(maxEdges int) *friendIndex { return &friendIndex{max: maxEdges} }

// load builds the index from st unless it is built; call with wmu held.
func (x *friendIndex) load(ctx context.Context, st store.Store) error {
	x.mu.RLock()
	done := x.loaded
	x.mu.RUnlock()
	if done {
		return nil
	}
	fo := map[model.UserID][]model.UserID{}
	fi := map[model.UserID][]model.UserID{}
	names := map[string]model.UserID{}
	intern := func(b []byte) model.UserID {
		if u, ok := names[string(b)]; ok {
			return u
		}
		u := model.UserID(b)
		names[string(u)] = u
		return u
	}
	prefix := store.Prefix("soc", "fo")
	edges, off := 0, false
	err := st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		u, v, ok := bytes.Cut(k[len(prefix):], []byte{store.Sep})
		if !ok {
			return fmt.Errorf("social: follow key %q", k)
		}
		if edges++; edges > x.max {
			off = true
			return store.ErrStop
		}
		a, b := intern(u), intern(v)
		fo[a] = append(fo[a], b)
		fi[b] = append(fi[b], a)
		return nil
	})
	if err != nil {
		return fmt.Errorf("social: load follow graph: %w", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.loaded, x.off = true, off
	if off {
		return nil
	}
	for _, m := range []map[model.UserID][]model.UserID{fo, fi} {
		for _, l := range m {
			slices.Sort(l)
		}
	}
	x.fo, x.fi, x.names, x.edges = fo, fi, names, edges
	return nil
}

// friends returns user's friends (followees who follow back), ascending,
// and false when the index is off or not built.
func (x *friendIndex) friends(user model.UserID) ([]model.UserID, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.loaded || x.off {
		return nil, false
	}
	return intersect(x.fo[user], x.fi[user]), true
}

// page returns a page of user's followers (followers true) or followees
// after after, at most limit (pageOf), and false when the index is off
// or not built.
func (x *friendIndex) page(user model.UserID, followers bool, after model.UserID, limit int) ([]model.UserID, bool, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.loaded || x.off {
		return nil, false, false
	}
	l := x.fo[user]
	if followers {
		l = x.fi[user]
	}
	p, more := pageOf(l, after, limit)
	return p, more, true
}

// counts returns how many users follow user and how many user follows,
// and false when the index is off or not built.
func (x *friendIndex) counts(user model.UserID) (followers, following int, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if !x.loaded || x.off {
		return 0, 0, false
	}
	return len(x.fi[user]), len(x.fo[user]), true
}

// follow records that u follows v (committed to the store); call with
// wmu held.
func (x *friendIndex) follow(u, v model.UserID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.loaded || x.off {
		return
	}
	u, v = x.intern(u), x.intern(v)
	l, added := insertSorted(x.fo[u], v)
	if !added {
		return
	}
	if x.edges++; x.edges > x.max {
		x.off, x.fo, x.fi, x.names = true, nil, nil, nil
		return
	}
	x.fo[u] = l
	x.fi[v], _ = insertSorted(x.fi[v], u)
}

// unfollow records that u no longer follows v; call with wmu held.
func (x *friendIndex) unfollow(u, v model.UserID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.loaded || x.off {
		return
	}
	if l, removed := removeSorted(x.fo[u], v); removed {
		x.edges--
		setList(x.fo, u, l)
		l, _ = removeSorted(x.fi[v], u)
		setList(x.fi, v, l)
	}
}

func (x *friendIndex) intern(u model.UserID) model.UserID {
	if n, ok := x.names[string(u)]; ok {
		return n
	}
	x.names[string(u)] = u
	return u
}

// setList stores l as m[u], deleting the entry when l is empty.
func setList(m map[model.UserID][]model.UserID, u model.UserID, l []model.UserID) {
	if len(l) == 0 {
		delete(m, u)
		return
	}
	m[u] = l
}

func insertSorted(l []model.UserID, u model.UserID) ([]model.UserID, bool) {
	i, found := slices.BinarySearch(l, u)
	if found {
		return l, false
	}
	return slices.Insert(l, i, u), true
}

func removeSorted(l []model.UserID, u model.UserID) ([]model.UserID, bool) {
	i, found := slices.BinarySearch(l, u)
	if !found {
		return l, false
	}
	return slices.Delete(l, i, i+1), true
}

// intersect returns the names in both ascending lists.
func intersect(a, b []model.UserID) []model.UserID {
	out := []model.UserID{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := bytes.Compare([]byte(a[i]), []byte(b[j])); {
		case c == 0:
			out = append(out, a[i])
			i++
			j++
		case c < 0:
			i++
		default:
			j++
		}
	}
	return out
}
