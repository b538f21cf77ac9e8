package search_test

import (
	"fmt"
	"log"

	"github.com/segue-fm/segue/core/search"
)

// Rank orders documents by Segue's criteria — words matched, typos,
// proximity, attribute, exactness, popularity — with diacritics and case
// folded away: "beyonce halo" matches both words of the original (the
// artist written "Beyoncé") and ranks first; of the two documents
// matching one word each, the match in a title ranks above the match in
// an artist.
func ExampleRank() {
	q, err := search.ParseQuery("beyonce halo")
	if err != nil {
		log.Fatal(err)
	}
	docs := []search.Document{
		{ID: "cover", Fields: []search.Field{{Attr: search.AttrTitle, Text: "Halo (Acoustic)"}, {Attr: search.AttrArtist, Text: "Some Band"}}, Popularity: 0.9},
		{ID: "original", Fields: []search.Field{{Attr: search.AttrTitle, Text: "Halo"}, {Attr: search.AttrArtist, Text: "Beyoncé"}}, Popularity: 0.5},
		{ID: "other", Fields: []search.Field{{Attr: search.AttrTitle, Text: "Crazy in Love"}, {Attr: search.AttrArtist, Text: "Beyonce"}}},
	}
	for _, r := range search.Rank(q, docs) {
		fmt.Println(r.ID, r.WordsMatched, r.Typos)
	}
	// Output:
	// original 2 0
	// cover 1 0
	// other 1 0
}

// Fold is the normalisation both the index and queries use.
func ExampleFold() {
	fmt.Println(search.Fold("Sigur Rós — Ágætis Byrjun"))
	// Output:
	// sigur ros — agaetis byrjun
}
