package searchindex

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

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
	{Kind: KindArtist, ID: "moon", Title: "美少女戦士セーラームーンシリーズ", Popularity: 3},
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

func find(t *testing.T, ix *Index, q string, kinds ...Kind) []string {
	t.Helper()
	pq, err := core.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	hits, _, err := ix.Search(Request{Query: pq, Kinds: kinds, Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, h := range hits {
		ids = append(ids, h.Entry.ID)
	}
	return ids
}

// TestIndexQueries runs the same table over an index whose terms are all in
// the FST and one whose terms are all fresh (searched linearly), so both
// candidate paths are checked.
func TestIndexQueries(t *testing.T) {
	cases := []struct {
		query string
		kinds []Kind
		first string
	}{
		{"bjork", nil, "bjork"},
		{"björk joga", nil, "t3"},
		{"acdc", nil, "acdc"},
		{"ac dc", nil, "acdc"},
		{"guns n roses", nil, "gnr"},
		{"p!nk", nil, "pink"},
		{"the the ", nil, "thethe"},
		{"metalica", nil, "metallica"},   // one typo at 8 letters
		{"metlalcia ", nil, "metallica"}, // two typos at 9 letters
		{"metal", nil, "metallica"},      // prefix
		{"daytripper", []Kind{KindTrack}, "t1"},
		{"day trip", []Kind{KindTrack}, "t1"},
		{"daytri", []Kind{KindTrack}, "t1"}, // a prefix reaching into the second word of a pair
		{"dyatri", []Kind{KindTrack}, "t1"}, // the same with a swap
		{"daytripper ", nil, "t1"},          // a whole pair, not as a prefix
		{"highway hel", nil, "t4"},
		{"strasse", nil, "t5"},
		{"aether", nil, "t5"},
		{"olafur", nil, "t5"},
		{"homogenic", []Kind{KindAlbum}, "a1"},
		{"road trip", []Kind{KindPlaylist}, "p1"},
		// 16 kana: vellum's Levenshtein automaton finds no term at all
		{"美少女戦士セーラームーンシリーズ", nil, "moon"},
		{"美少女戦士セーラームーンシリーズ ", nil, "moon"},
		{"美少女戦士セーラームーンシリース", nil, "moon"}, // ズ without its mark
		{"美少女戦士セーラームーンシ", nil, "moon"},
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"fst", DefaultOptions().WithFreshLimit(1)},
		{"fresh", DefaultOptions().WithFreshLimit(1 << 20)},
	} {
		ix, _ := openMemory(t, mode.opts, fixture...)
		fresh := len(ix.words.fresh) + len(ix.pairs.fresh)
		if mode.name == "fst" && fresh != 0 {
			t.Fatalf("fst mode has %d fresh terms", fresh)
		}
		if mode.name == "fresh" && fresh == 0 {
			t.Fatal("fresh mode has no fresh terms")
		}
		for _, tc := range cases {
			got := find(t, ix, tc.query, tc.kinds...)
			if len(got) == 0 || got[0] != tc.first {
				t.Errorf("%s: %q → %v, want %s first", mode.name, tc.query, got, tc.first)
			}
		}
		for _, q := range []string{"xqzvw", "bjrk ", "zzzzzzzzzz"} {
			if got := find(t, ix, q); len(got) != 0 {
				t.Errorf("%s: %q → %v, want nothing", mode.name, q, got)
			}
		}
	}
}

func TestIndexPaging(t *testing.T) {
	ix, _ := openMemory(t, DefaultOptions(), fixture...)
	pq, _ := core.ParseQuery("beatles")
	all, total, err := ix.Search(Request{Query: pq})
	if err != nil || total != 3 || len(all) != 3 {
		t.Fatalf("all: %d hits, total %d, %v", len(all), total, err)
	}
	page, total, _ := ix.Search(Request{Query: pq, Offset: 1, Limit: 1})
	if total != 3 || len(page) != 1 || page[0].Entry.ID != all[1].Entry.ID {
		t.Errorf("page 2 of 1: %+v (total %d), want %+v", page, total, all[1].Entry)
	}
	if page, _, _ := ix.Search(Request{Query: pq, Offset: 3}); len(page) != 0 {
		t.Errorf("offset past the end: %d hits", len(page))
	}
}

func TestIndexIncremental(t *testing.T) {
	ctx := context.Background()
	ix, _ := openMemory(t, DefaultOptions().WithFreshLimit(2), fixture...)
	// Rename: the old title no longer matches, the new one does.
	renamed := fixture[9]
	renamed.Title = "Bachelorette"
	if err := ix.Upsert(ctx, renamed); err != nil {
		t.Fatal(err)
	}
	if got := find(t, ix, "joga", KindTrack); len(got) != 0 {
		t.Errorf("old title still found: %v", got)
	}
	if got := find(t, ix, "bachelorete", KindTrack); !slices.Equal(got, []string{"t3"}) {
		t.Errorf("new title: %v", got)
	}
	if err := ix.Remove(ctx, KindArtist, "metallica", "unknown"); err != nil {
		t.Fatal(err)
	}
	if got := find(t, ix, "metallica"); len(got) != 0 {
		t.Errorf("removed artist found: %v", got)
	}
	if ix.Len() != len(fixture)-1 {
		t.Errorf("Len %d, want %d", ix.Len(), len(fixture)-1)
	}
}

func TestIndexPersisted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ix, err := OpenIndex(ctx, st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, fixture...); err != nil {
		t.Fatal(err)
	}
	if err := ix.Remove(ctx, KindArtist, "acdc"); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ix, err = OpenIndex(ctx, st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != len(fixture)-1 {
		t.Errorf("reopened with %d entries, want %d", ix.Len(), len(fixture)-1)
	}
	if got := find(t, ix, "bjrok "); len(got) == 0 || got[0] != "bjork" {
		t.Errorf("reopened: bjrok → %v", got)
	}
	if got := find(t, ix, "ac dc", KindArtist); len(got) != 0 {
		t.Errorf("reopened: removed artist found: %v", got)
	}
}

func TestEntryCheck(t *testing.T) {
	long := string(make([]byte, MaxTextBytes+1))
	many := make([]string, MaxArtists+1)
	for i := range many {
		many[i] = "a"
	}
	for _, e := range []Entry{
		{Kind: "song", ID: "x", Title: "t"},
		{Kind: KindTrack, ID: "", Title: "t"},
		{Kind: KindTrack, ID: "a/b", Title: "t"},
		{Kind: KindTrack, ID: string(make([]byte, MaxIDBytes+1)), Title: "t"},
		{Kind: KindTrack, ID: "x", Title: ""},
		{Kind: KindTrack, ID: "x", Title: long},
		{Kind: KindTrack, ID: "x", Title: "t", Album: long},
		{Kind: KindTrack, ID: "x", Title: "t", Artists: []string{""}},
		{Kind: KindTrack, ID: "x", Title: "t", Artists: many},
	} {
		ix, st := openMemory(t, DefaultOptions())
		if err := ix.Upsert(context.Background(), fixture[0], e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("Upsert(%+.40v) = %v, want ErrInvalidEntry", e, err)
		}
		// All or nothing: the valid entry before it is not written either.
		if ix.Len() != 0 {
			t.Errorf("index has %d entries after a failed upsert", ix.Len())
		}
		if _, err := st.Get(context.Background(), store.Key("search", "entry", "artist:acdc")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("store has the entry of a failed upsert: %v", err)
		}
	}
}

func TestBestCandidates(t *testing.T) {
	var cands []cand
	for i := range 500 {
		cands = append(cands, cand{n: uint32(i), words: uint8(i % 3), typos: uint8(i % 5), attr: uint8(i % 4), exact: uint8(i % 2), pop: float64(i % 7)})
	}
	want := slices.Clone(cands)
	slices.SortFunc(want, func(a, b cand) int {
		if a.better(b) {
			return -1
		}
		return 1
	})
	for _, k := range []int{1, 10, 499, 500, 600} {
		got := bestCandidates(cands, k)
		slices.SortFunc(got, func(a, b cand) int {
			if a.better(b) {
				return -1
			}
			return 1
		})
		if !slices.Equal(got, want[:min(k, len(want))]) {
			t.Errorf("k=%d: best candidates differ from the sorted prefix", k)
		}
	}
}

// TestPlaylistViewer checks Request.Viewer: a private playlist is found
// only by its owner, a public one by anyone, every playlist without a
// viewer; the total counts only what the viewer may see; the visibility
// survives a reopen.
func TestPlaylistViewer(t *testing.T) {
	ix, st := openMemory(t, DefaultOptions(),
		Entry{Kind: KindPlaylist, ID: "p-ada-private", Title: "Harbour Nights", Owner: "ada"},
		Entry{Kind: KindPlaylist, ID: "p-ada-public", Title: "Harbour Days", Owner: "ada", Public: true},
		Entry{Kind: KindPlaylist, ID: "p-bob-private", Title: "Harbour Noon", Owner: "bob"},
		Entry{Kind: KindTrack, ID: "t", Title: "Harbour Lights"},
	)
	search := func(ix *Index, viewer, q string) ([]string, int) {
		pq, err := core.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		hits, total, err := ix.Search(Request{Query: pq, Limit: 10, Viewer: viewer})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.Entry.ID)
		}
		slices.Sort(ids)
		return ids, total
	}
	for _, tc := range []struct {
		viewer string
		want   []string
	}{
		{"ada", []string{"p-ada-private", "p-ada-public", "t"}},
		{"bob", []string{"p-ada-public", "p-bob-private", "t"}},
		{"eve", []string{"p-ada-public", "t"}},
		{"", []string{"p-ada-private", "p-ada-public", "p-bob-private", "t"}},
	} {
		got, total := search(ix, tc.viewer, "harbour")
		if !slices.Equal(got, tc.want) || total != len(tc.want) {
			t.Errorf("viewer %q: %v (total %d), want %v", tc.viewer, got, total, tc.want)
		}
	}
	if got, _ := search(ix, "eve", "harbour nights"); slices.Contains(got, "p-ada-private") {
		t.Error("eve found ada's private playlist by its exact name")
	}
	re, err := OpenIndex(context.Background(), st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := search(re, "eve", "harbour"); !slices.Equal(got, []string{"p-ada-public", "t"}) {
		t.Errorf("after reopen eve sees %v", got)
	}
}

// TestIndexFull checks the slot limit: an Upsert or Apply past it is
// refused whole with ErrIndexFull and leaves the index and its store as
// they were.
func TestIndexFull(t *testing.T) {
	ix, st := openMemory(t, DefaultOptions(), fixture[:3]...)
	ix.maxEntries = 4
	err := ix.Upsert(context.Background(), fixture[3], fixture[4])
	if !errors.Is(err, ErrIndexFull) {
		t.Fatalf("Upsert past the limit: %v, want ErrIndexFull", err)
	}
	if err := ix.Apply([]Entry{fixture[3], fixture[4]}); !errors.Is(err, ErrIndexFull) {
		t.Fatalf("Apply past the limit: %v, want ErrIndexFull", err)
	}
	if ix.Len() != 3 {
		t.Fatalf("%d entries after refused writes, want 3", ix.Len())
	}
	reopened, err := OpenIndex(context.Background(), st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if reopened.Len() != 3 {
		t.Fatalf("%d entries stored after a refused Upsert, want 3", reopened.Len())
	}
	if err := ix.Upsert(context.Background(), fixture[3]); err != nil {
		t.Fatalf("Upsert to the limit: %v", err)
	}
	if got := find(t, ix, "p!nk"); len(got) != 1 || got[0] != "pink" {
		t.Fatalf("p!nk → %v", got)
	}
}

// TestScratchEpochWrap runs a query, then as many others as the per-query
// state's epoch has values less one, then the first again, so the first
// query's epoch comes back while its state is still there: the state must
// have been cleared when the epoch wrapped.
func TestScratchEpochWrap(t *testing.T) {
	ix, _ := openMemory(t, DefaultOptions(), fixture...)
	for len(scratchPool) > 0 {
		<-scratchPool // one scratch serves this sequential test
	}
	want := find(t, ix, "beatles")
	for round := range 3 {
		for range 254 {
			find(t, ix, "bjork")
		}
		if got := find(t, ix, "beatles"); !slices.Equal(got, want) {
			t.Fatalf("round %d: %v, want %v", round, got, want)
		}
	}
}

// TestShortAnswers: the cached answers of one- and two-letter prefixes
// are dropped by any change to the index and kept apart per viewer and
// page.
func TestShortAnswers(t *testing.T) {
	ctx := context.Background()
	ix, _ := openMemory(t, DefaultOptions(), fixture...)
	search := func(q, viewer string, limit int) []string {
		t.Helper()
		pq, err := core.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		hits, _, err := ix.Search(Request{Query: pq, Limit: limit, Viewer: viewer})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range hits {
			ids = append(ids, h.Entry.ID)
		}
		return ids
	}
	first := search("da", "", 5)
	if !slices.Equal(first, []string{"t1", "t2"}) {
		t.Fatalf("da → %v", first)
	}
	if again := search("da", "", 5); !slices.Equal(again, first) {
		t.Errorf("da again → %v, want %v", again, first)
	}
	if one := search("da", "", 1); !slices.Equal(one, first[:1]) {
		t.Errorf("da limit 1 → %v", one)
	}
	if err := ix.Upsert(ctx, Entry{Kind: KindArtist, ID: "daft", Title: "Daft Punk", Popularity: 1000}); err != nil {
		t.Fatal(err)
	}
	if got := search("da", "", 5); len(got) == 0 || got[0] != "daft" {
		t.Errorf("after an upsert: da → %v", got)
	}
	if err := ix.Remove(ctx, KindArtist, "daft"); err != nil {
		t.Fatal(err)
	}
	if got := search("da", "", 5); !slices.Equal(got, first) {
		t.Errorf("after a removal: da → %v, want %v", got, first)
	}
	if err := ix.Upsert(ctx, Entry{Kind: KindPlaylist, ID: "p2", Title: "Dawn", Owner: "ann", Popularity: 1000}); err != nil {
		t.Fatal(err)
	}
	if got := search("da", "ann", 5); len(got) == 0 || got[0] != "p2" {
		t.Errorf("owner: da → %v", got)
	}
	if got := search("da", "bob", 5); slices.Contains(got, "p2") {
		t.Errorf("another viewer sees a private playlist: da → %v", got)
	}
}

// TestApproximateTotalHidesPrivatePlaylists: above WithExactTotal the
// total is a posting count; with a viewer it must not count private
// playlists, or a query such as "zebra harbour" tells any user whether
// some other user's private playlist has the word "zebra" (the total
// moved by one when bob's private playlist existed). Checked on a fresh
// index, after a rebuild that drops dead slots, after a reopen from a
// snapshot, and after the playlist turned public (then it counts).
func TestApproximateTotalHidesPrivatePlaylists(t *testing.T) {
	ctx := context.Background()
	var base []Entry
	for i := range 5000 {
		base = append(base, Entry{Kind: KindTrack, ID: fmt.Sprint("t", i), Title: fmt.Sprint("harbour song ", i), Popularity: float64(i)})
	}
	private := Entry{Kind: KindPlaylist, ID: "p-bob", Title: "zebra harbour song", Owner: "bob"}
	queries := []string{"harbour", "harb", "zebra", "zebra harbour", "harbour song", "song zebra harbour"}
	totals := func(ix *Index, viewer string) []int {
		var out []int
		for _, kinds := range [][]Kind{nil, {KindPlaylist}} {
			for _, q := range queries {
				pq, err := core.ParseQuery(q)
				if err != nil {
					t.Fatal(err)
				}
				_, total, err := ix.Search(Request{Query: pq, Kinds: kinds, Limit: 10, Viewer: viewer})
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, total)
			}
		}
		return out
	}
	opts := DefaultOptions().WithExactTotal(0)
	without, _ := openMemory(t, opts, base...)
	want := totals(without, "eve")

	st := store.NewMemory()
	path := filepath.Join(t.TempDir(), "snap")
	ix, err := OpenIndex(ctx, st, opts.WithSnapshot(path).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, append(slices.Clone(base), private, Entry{Kind: KindPlaylist, ID: "p-gone", Title: "zebra harbour", Owner: "bob"})...); err != nil {
		t.Fatal(err)
	}
	if got := totals(ix, "eve"); !slices.Equal(got, want) {
		t.Errorf("fresh index: totals %v for eve, want %v (as without bob's private playlist)", got, want)
	}
	// Half the slots dead forces a rebuild, which drops dead postings.
	ids := []string{"p-gone"}
	for i := range 2600 {
		ids = append(ids, fmt.Sprint("t", i))
	}
	if err := ix.Remove(ctx, KindTrack, ids[1:]...); err != nil {
		t.Fatal(err)
	}
	if err := ix.Remove(ctx, KindPlaylist, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := ix.Upsert(ctx, base[:2600]...); err != nil {
		t.Fatal(err)
	}
	if got := totals(ix, "eve"); !slices.Equal(got, want) {
		t.Errorf("after a rebuild: totals %v for eve, want %v", got, want)
	}
	if err := ix.SaveSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	re, err := OpenIndex(ctx, st, opts.WithSnapshot(path).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if got := totals(re, "eve"); !slices.Equal(got, want) {
		t.Errorf("reopened from the snapshot: totals %v for eve, want %v", got, want)
	}
	public := private
	public.Public = true
	if err := re.Upsert(ctx, public); err != nil {
		t.Fatal(err)
	}
	if got := totals(re, "eve"); slices.Equal(got, want) {
		t.Errorf("public playlist: totals %v for eve, want them to count it", got)
	}
}
