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

// seekBackends are the stores the paging tests run on: Badger (a
// store.Seeker) and the memory store.
var seekBackends = []struct {
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
}

// indexOff is a Service over st whose friends index is off (a limit of
// one edge, loaded): its lists come from the store.
func indexOff(t *testing.T, st store.Store) *Service {
	t.Helper()
	s := New(st, nil, nil, nil, DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)).WithFriendIndex(1))
	if err := s.LoadGraph(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestFollowPageSeeks: with the friends index off, a page of followers
// or follows after a cursor deep in a long list visits the page's keys
// (and the one that tells more follow), not the names before the
// cursor, on Badger and the memory store, and is still the right page.
// Before, the store's prefix scan visited every name before the cursor:
// 2,408 keys for a page of 7 after the 2,400th follower.
func TestFollowPageSeeks(t *testing.T) {
	const n, limit = 2500, 7
	for _, backend := range seekBackends {
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
			s := indexOff(t, st)
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

// TestFriendsPageFromStore: with the friends index off, GET /v1/friends
// pages (friendsPage) and Friends come from the store by walking the
// user's follows and checking each for a follow back: the pages are
// the mutual follows, in order, whole, and no page reads the user's
// followers. Before, every page read both of the user's lists whole:
// here the 5,000 followers ada does not follow back, on each of ≈ 15
// pages.
func TestFriendsPageFromStore(t *testing.T) {
	const follows, fans, limit = 300, 5000, 7
	for _, backend := range seekBackends {
		t.Run(backend.name, func(t *testing.T) {
			st := &visitCounter{Store: backend.open(t)}
			var want []model.UserID
			err := st.Update(t.Context(), func(tx store.Txn) error {
				for i := range follows {
					u := model.UserID(fmt.Sprintf("pal%04d", i))
					if err := ImportFollow(tx, "ada", u); err != nil {
						return err
					}
					if i%3 == 0 {
						want = append(want, u)
						if err := ImportFollow(tx, u, "ada"); err != nil {
							return err
						}
					}
				}
				for i := range fans {
					if err := ImportFollow(tx, model.UserID(fmt.Sprintf("fan%05d", i)), "ada"); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			s := indexOff(t, st)
			all, err := s.Friends(t.Context(), "ada")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(all, want) {
				t.Fatalf("Friends: %d users %v…, want %d", len(all), all[:min(len(all), 3)], len(want))
			}
			var got []model.UserID
			after := model.UserID("")
			for pages := 1; ; pages++ {
				st.visited.Store(0)
				p, more, err := s.friendsPage(t.Context(), "ada", after, limit)
				if err != nil {
					t.Fatal(err)
				}
				// A page of 7 friends spans ≈ 21 follows; the batches
				// may read up to a page more, never the followers.
				if v := st.visited.Load(); v > 4*limit+2 {
					t.Errorf("page %d after %q: visited %d keys, want at most %d", pages, after, v, 4*limit+2)
				}
				got = append(got, p...)
				if !more {
					break
				}
				if len(p) != limit {
					t.Fatalf("page %d: %d friends with more to follow, want %d", pages, len(p), limit)
				}
				if pages > len(want) {
					t.Fatal("pages never end")
				}
				after = p[len(p)-1]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages hold %d friends, want %d (%v…)", len(got), len(want), want[:3])
			}
		})
	}
}
