package search

import (
	"context"
	"testing"

	"github.com/segue-fm/segue/store"
)

// fixture is the small catalog the HTTP tests search.
var fixture = []Entry{
	{Kind: KindArtist, ID: "acdc", Title: "AC/DC", Popularity: 90},
	{Kind: KindArtist, ID: "bjork", Title: "Björk", Popularity: 80},
	{Kind: KindArtist, ID: "gnr", Title: "Guns N' Roses", Popularity: 85},
	{Kind: KindArtist, ID: "pink", Title: "P!nk", Popularity: 70},
	{Kind: KindArtist, ID: "thethe", Title: "The The", Popularity: 20},
	{Kind: KindArtist, ID: "beatles", Title: "The Beatles", Popularity: 99},
	{Kind: KindArtist, ID: "metallica", Title: "Metallica", Popularity: 88},
	{Kind: KindTrack, ID: "t1", Title: "Day Tripper", Artists: []string{"The Beatles"}, Album: "Past Masters", Popularity: 60},
	{Kind: KindTrack, ID: "t2", Title: "Day Tripper (Remastered 2009)", Artists: []string{"The Beatles"}, Album: "1", Popularity: 40},
	{Kind: KindTrack, ID: "t3", Title: "Jóga", Artists: []string{"Björk"}, Album: "Homogenic", Popularity: 50},
	{Kind: KindTrack, ID: "t4", Title: "Highway to Hell", Artists: []string{"AC/DC"}, Album: "Highway to Hell", Popularity: 75},
	{Kind: KindTrack, ID: "t5", Title: "Straße", Artists: []string{"Æther Ensemble", "Ólafur Arnalds"}, Album: "Nord", Popularity: 10},
	{Kind: KindAlbum, ID: "a1", Title: "Homogenic", Artists: []string{"Björk"}, Popularity: 55},
	{Kind: KindPlaylist, ID: "p1", Title: "Road Trip", Popularity: 5},
}

func openMemory(t *testing.T, opts Options, entries ...Entry) (*Index, store.Store) {
	t.Helper()
	st := store.NewMemory()
	ix, err := OpenIndex(context.Background(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
	return ix, st
}
