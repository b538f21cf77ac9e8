package social

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// visitCounter is a store that counts the keys its iterations visit
// (each call of an Iterate or IterateFrom callback). It implements
// store.Seeker when the store it wraps does.
type visitCounter struct {
	store.Store
	visited atomic.Int64
}

func (c *visitCounter) count(fn func(k, v []byte) error) func(k, v []byte) error {
	return func(k, v []byte) error {
		c.visited.Add(1)
		return fn(k, v)
	}
}

func (c *visitCounter) Iterate(ctx context.Context, prefix []byte, reverse bool, fn func(k, v []byte) error) error {
	return c.Store.Iterate(ctx, prefix, reverse, c.count(fn))
}

func (c *visitCounter) IterateFrom(ctx context.Context, prefix, from []byte, fn func(k, v []byte) error) error {
	return c.Store.(store.Seeker).IterateFrom(ctx, prefix, from, c.count(fn))
}

// TestFollowPageSeeks: with the friends index off, a page of followers
// or follows after a cursor deep in a long list visits the page's keys
// (and the one that tells more follow), not the names before the
// cursor, on Badger and the memory store, and is still the right page.
// Before, the store's prefix scan visited every name before the cursor:
// 2,408 keys for a page of 7 after the 2,400th follower.
func TestFollowPageSeeks(t *testing.T) {
	const n, limit = 2500, 7
	for _, backend := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"memory", func(*testing.T) store.Store { return store.NewMemory() }},
		{"badger", func(t *testing.T) store.Store {
			st, err := badgerstore.Open(t.Context(), t.TempDir(), badgerstore.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			st := &visitCounter{Store: backend.open(t)}
			var fans []model.UserID
			err := st.Update(t.Context(), func(tx store.Txn) error {
				for i := range n {
					u := model.UserID(fmt.Sprintf("fan%05d", i))
					fans = append(fans, u)
					if err := ImportFollow(tx, u, "ada"); err != nil {
						return err
					}
					if err := ImportFollow(tx, "ada", u); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			// An index of one edge is off for this graph: pages come from the store.
			s := New(st, nil, nil, nil, DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)).WithFriendIndex(1))
			if err := s.LoadGraph(t.Context()); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				after     model.UserID
				want      []model.UserID
				more      bool
				maxVisits int64
			}{
				{"", fans[:limit], true, limit + 1},
				{fans[2399], fans[2400 : 2400+limit], true, limit + 2},
				{"fan02399x", fans[2400 : 2400+limit], true, limit + 1}, // a cursor between two names
				{fans[n-limit-1], fans[n-limit:], false, limit + 1},
				{fans[n-1], []model.UserID{}, false, 1},
			} {
				for _, followers := range []bool{true, false} {
					st.visited.Store(0)
					got, more, err := s.followPage(t.Context(), "ada", followers, c.after, limit)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, c.want) || more != c.more {
						t.Errorf("followers=%v after %q: %v (more %v), want %v (more %v)", followers, c.after, got, more, c.want, c.more)
					}
					if v := st.visited.Load(); v > c.maxVisits {
						t.Errorf("followers=%v after %q: visited %d keys for a page of %d, want at most %d", followers, c.after, v, limit, c.maxVisits)
					}
				}
			}
		})
	}
}
