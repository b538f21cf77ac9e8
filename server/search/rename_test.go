package search

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestImportRenameReindexesDependents: an import that renames an artist
// or an album (a record of an id already imported, with another name)
// re-indexes the albums and tracks that show that name, imported earlier
// and not in the file, so a search finds them by the new name, not the
// old one, also after a restart. Before, only the renamed record's own
// entry changed: the artist's other tracks kept the old name in their
// results and were found by it, the new name found none of them.
func TestImportRenameReindexesDependents(t *testing.T) {
	r, _ := importRelay(t)
	tok := deviceToken(t, r.URL)
	if code, out := postImport(t, r.URL, importAdmin, importFile); code != 200 {
		t.Fatalf("first import: %d %+v", code, out)
	}
	for _, tc := range []struct {
		name, file string
		query      string
		want       map[string]string // result id → the field holding the new name ("artists" or "album")
		gone       string            // the old name, found in no result of those ids
	}{
		{"artist renamed", `{"type":"artist","id":"ar-acdc","name":"Zorblax Quintet","popularity":90}` + "\n", "zorblax quintet",
			map[string]string{"ar-acdc": "title", "al-hth": "artists", "im-1": "artists", "im-demo": "artists"}, "AC/DC"},
		{"featured artist renamed", `{"type":"artist","id":"ar-pink","name":"Quarnfeld","popularity":50}` + "\n", "quarnfeld",
			map[string]string{"ar-pink": "title", "im-1": "artists"}, "P!nk"},
		{"album renamed", `{"type":"album","id":"al-hth","title":"Plovdivian Nights","artist_ids":["ar-acdc"],"release_date":"1979-07-27"}` + "\n", "plovdivian nights",
			map[string]string{"al-hth": "title", "im-1": "album", "im-demo": "album"}, "Highway to Hell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := postImport(t, r.URL, importAdmin, tc.file); code != 200 {
				t.Fatalf("rename import: %d %+v", code, out)
			}
			check := func(when string) {
				res := searchFor(t, r.URL, tok, tc.query)
				found := map[string]bool{}
				for _, h := range res.Results {
					if _, ok := tc.want[h.ID]; !ok {
						continue
					}
					found[h.ID] = true
					shown := fmt.Sprint(h.Title, h.Artists, h.Album)
					if strings.Contains(shown, tc.gone) {
						t.Errorf("%s: %s still shows %q: %+v", when, h.ID, tc.gone, h)
					}
					if len(h.Highlights) == 0 || !slices.ContainsFunc(h.Highlights, func(hl HighlightJSON) bool { return hl.Field == tc.want[h.ID] }) {
						t.Errorf("%s: %s matched %q outside its %s: %+v", when, h.ID, tc.query, tc.want[h.ID], h)
					}
				}
				for id := range tc.want {
					if !found[id] {
						t.Errorf("%s: %q does not find %s: %+v", when, tc.query, id, res.Results)
					}
				}
			}
			check("after the import")
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
			if err := r.Restart(t.Context()); err != nil {
				t.Fatal(err)
			}
			check("after a restart")
		})
	}
}
