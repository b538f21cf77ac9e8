package searchindex_test

import (
	"context"
	"fmt"
	"log"

	"github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/core/searchindex"
	"github.com/segue-fm/segue/store"
)

// An index over a store, searched with typos and a prefix: "bohemain
// rhap" ranks the track matching both words (one typo, a prefix of the
// last word) above those matching "rhap" alone; a private playlist is
// found only by its owner when a Viewer is set.
func ExampleIndex_Search() {
	ctx := context.Background()
	ix, err := searchindex.OpenIndex(ctx, store.NewMemory(), searchindex.DefaultOptions())
	if err != nil {
		log.Fatal(err)
	}
	err = ix.Upsert(ctx,
		searchindex.Entry{Kind: searchindex.KindTrack, ID: "t1", Title: "Bohemian Rhapsody", Artists: []string{"Queen"}, Album: "A Night at the Opera", Popularity: 0.9},
		searchindex.Entry{Kind: searchindex.KindTrack, ID: "t2", Title: "Rhapsody in Blue", Artists: []string{"George Gershwin"}, Popularity: 0.5},
		searchindex.Entry{Kind: searchindex.KindPlaylist, ID: "p1", Title: "Rhapsodies for Ana", Owner: "ana"},
	)
	if err != nil {
		log.Fatal(err)
	}
	for _, q := range []struct{ text, viewer string }{
		{"bohemain rhap", ""},
		{"rhapsod", "bob"},
		{"rhapsod", "ana"},
	} {
		query, err := search.ParseQuery(q.text)
		if err != nil {
			log.Fatal(err)
		}
		hits, total, err := ix.Search(searchindex.Request{Query: query, Limit: 10, Viewer: q.viewer})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q as %q: %d:", q.text, q.viewer, total)
		for _, h := range hits {
			fmt.Printf(" %s", h.Entry.Key())
		}
		fmt.Println()
	}
	// Output:
	// "bohemain rhap" as "": 3: track:t1 track:t2 playlist:p1
	// "rhapsod" as "bob": 2: track:t1 track:t2
	// "rhapsod" as "ana": 3: track:t1 track:t2 playlist:p1
}
