package social_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/store"
)

// TestUserListPages: a user with more followers (and follows) than one
// page is listed in pages of the request's limit, ascending, every user
// once, the last page without a cursor; no limit is a page of
// api.DefaultUserListLimit; the engine reads every page; a bad limit or
// cursor is 400. With the friends index on and off (the store's lists).
// Before, every list was one answer, however long.
func TestUserListPages(t *testing.T) {
	const followers = api.DefaultUserListLimit + 1500
	for _, tc := range []struct {
		name  string
		index int // WithFriendIndex
	}{
		{"index", 10_000_000},
		{"store", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, wantFollows []model.UserID
			r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
				err := dd.Store.Update(t.Context(), func(tx store.Txn) error {
					for i := range followers {
						u := model.UserID(fmt.Sprintf("fan%05d", followers-i)) // written out of order
						want = append(want, u)
						if err := social.ImportFollow(tx, u, "ada"); err != nil {
							return err
						}
						if i%2 == 0 {
							wantFollows = append(wantFollows, u)
							if err := social.ImportFollow(tx, "ada", u); err != nil {
								return err
							}
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				opts := social.DefaultOptions().WithFriendIndex(tc.index).WithLogger(slog.New(slog.DiscardHandler))
				social.NewForRelay(dd, srv, opts).Mount(srv)
			}))
			slices.Sort(want)
			slices.Sort(wantFollows)
			ada := testbed.Device(t, r, "ada")

			get := func(set, query string) (int, api.UserList, string) {
				t.Helper()
				code, hdr, body := do(t, "GET", r.URL+"/v1/"+set+query, ada.Token(), "")
				var out api.UserList
				if code == http.StatusOK {
					if err := json.Unmarshal(body, &out); err != nil {
						t.Fatalf("%s%s: %v", set, query, err)
					}
				} else if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("%s%s: %d with Content-Type %q", set, query, code, ct)
				}
				return code, out, string(body)
			}
			for _, set := range []struct {
				name string
				want []model.UserID
			}{{"followers", want}, {"follows", wantFollows}, {"friends", wantFollows}} {
				// Pages of 7 by their cursors.
				var seen []model.UserID
				q := "?limit=7"
				for pages := 0; ; pages++ {
					if pages > len(set.want) {
						t.Fatalf("%s: more pages than users", set.name)
					}
					code, page, body := get(set.name, q)
					if code != http.StatusOK || len(page.Users) > 7 {
						t.Fatalf("%s%s: %d, %d users: %.200s", set.name, q, code, len(page.Users), body)
					}
					seen = append(seen, page.Users...)
					if page.Next == "" {
						break
					}
					q = "?limit=7&cursor=" + url.QueryEscape(page.Next)
				}
				if !slices.Equal(seen, set.want) {
					t.Errorf("%s by pages of 7: %d users, want each of the %d once, ascending", set.name, len(seen), len(set.want))
				}
				// No limit: the default page, the start of the list.
				code, first, _ := get(set.name, "")
				n := min(len(set.want), api.DefaultUserListLimit)
				if code != http.StatusOK || !slices.Equal(first.Users, set.want[:n]) || (first.Next != "") != (len(set.want) > n) {
					t.Errorf("%s without a limit: %d, %d users, next %q; want the first %d", set.name, code, len(first.Users), first.Next, n)
				}
				// The engine reads them all.
				if got := users(t, ada, set.name); !slices.Equal(got, set.want) {
					t.Errorf("engine's %s: %d users, want %d", set.name, len(got), len(set.want))
				}
			}
			for _, q := range []string{"?limit=0", "?limit=-1", "?limit=x", fmt.Sprintf("?limit=%d", api.MaxUserListLimit+1),
				"?cursor=%25%25", "?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("Not A User")), "?cursor=YWRh="} {
				if code, _, body := get("followers", q); code != http.StatusBadRequest || !strings.Contains(body, "social: bad page") {
					t.Errorf("followers%s: %d %s, want 400 bad page", q, code, body)
				}
			}
			if code, page, _ := get("followers", fmt.Sprintf("?limit=%d", api.MaxUserListLimit)); code != http.StatusOK || len(page.Users) != len(want) || page.Next != "" {
				t.Errorf("followers at the largest limit: %d, %d users, next %q; want all %d on one page", code, len(page.Users), page.Next, len(want))
			}
		})
	}
}
