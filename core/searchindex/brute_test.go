package searchindex

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	core "github.com/segue-fm/segue/core/search"
)

// seededQueries makes n queries of 1 to 3 words from entries, seeded:
// exact, with a swap in a word of five letters or more, with the last word
// cut (typing), and the first two words written together.
func seededQueries(r *rand.Rand, entries []Entry, n int) []string {
	var out []string
	for len(out) < n {
		e := entries[r.IntN(len(entries))]
		words := strings.Fields(e.Title)
		if len(e.Artists) > 0 && r.IntN(2) == 0 {
			words = append(words, strings.Fields(e.Artists[0])...)
		}
		words = words[:min(len(words), 1+r.IntN(3))]
		switch r.IntN(4) {
		case 1:
			for i, w := range words {
				if rs := []rune(w); len(rs) >= 5 {
					k := 1 + r.IntN(len(rs)-2)
					rs[k], rs[k+1] = rs[k+1], rs[k]
					words[i] = string(rs)
					break
				}
			}
		case 2:
			rs := []rune(words[len(words)-1])
			words[len(words)-1] = string(rs[:max(1, len(rs)*2/3)])
		case 3:
			if len(words) > 1 {
				words = append([]string{words[0] + words[1]}, words[2:]...)
			}
		}
		out = append(out, strings.Join(words, " "))
	}
	return out
}

// TestSearchAgainstBruteForce checks the index's candidate generation and
// pre-rank against core/search.Rank over every entry of a seeded catalog:
// every entry Rank matches is counted in total, every hit is a match with
// core/search's own Result, and the best hit ranks as well as Rank's best
// on every criterion before proximity (words matched, typos).
func TestSearchAgainstBruteForce(t *testing.T) {
	entries := deviceEntries(1000)
	docs := make([]core.Document, len(entries))
	byDoc := map[string]Entry{}
	for i, e := range entries {
		docs[i] = e.Document()
		byDoc[docs[i].ID] = e
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{
		{"fst", DefaultOptions()},
		{"fresh", DefaultOptions().WithFreshLimit(1 << 20)},
		{"early", DefaultOptions().WithExactTotal(0)},
	} {
		ix, _ := openMemory(t, mode.opts, entries...)
		for _, qs := range seededQueries(rand.New(rand.NewPCG(5, 6)), entries, 120) {
			q, err := core.ParseQuery(qs)
			if err != nil {
				t.Fatal(err)
			}
			want := core.Rank(q, docs)
			hits, total, err := ix.Search(Request{Query: q, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if total < len(want) {
				t.Errorf("%s: %q: total %d, brute force matches %d", mode.name, qs, total, len(want))
			}
			if len(want) > 0 && len(hits) == 0 {
				t.Errorf("%s: %q: no hits, brute force has %s", mode.name, qs, want[0].ID)
				continue
			}
			for _, h := range hits {
				r, ok := core.Match(q, h.Entry.Document())
				if !ok || r.WordsMatched != h.Result.WordsMatched || r.Typos != h.Result.Typos {
					t.Errorf("%s: %q: hit %s is %+v, Match says %+v %v", mode.name, qs, h.Entry.Key(), h.Result, r, ok)
				}
			}
			if len(hits) > 0 {
				got, best := hits[0].Result, want[0]
				if got.WordsMatched != best.WordsMatched || got.Typos != best.Typos {
					t.Errorf("%s: %q: best hit %s (%d words, %d typos), brute force %s (%d words, %d typos)",
						mode.name, qs, hits[0].Entry.Key(), got.WordsMatched, got.Typos, best.ID, best.WordsMatched, best.Typos)
				}
			}
		}
	}
}

// TestEarlyStop checks that the paths taken above WithExactTotal (here 0:
// always) — a one-word query read in ranking order with early stops, a
// longer one ranking the slots found for the most words, or those found
// for every word in popularity order (rankByPop, here for any number of
// them) — return a page as good as the full path's, hit by hit, and a
// total at least the exact one, for
// seeded queries (words, prefixes, typos, words written together) and
// their first words with kind filters, also after updates left postings
// out of order and slots dead.
func TestEarlyStop(t *testing.T) {
	entries := deviceEntries(1000)
	full, _ := openMemory(t, DefaultOptions().WithExactTotal(1<<30), entries...)
	early, _ := openMemory(t, DefaultOptions().WithExactTotal(0).WithFreshLimit(1<<20), entries...)
	byPop, _ := openMemory(t, DefaultOptions().WithExactTotal(0).WithFreshLimit(1<<20), entries...)
	// byPop takes rankByPop for any number of slots, over postings in
	// ranking order with common terms as bit sets (a rebuild: early's
	// fresh limit leaves its postings as appended).
	byPop.popMin = 0
	byPop.mu.Lock()
	err := byPop.rebuild()
	byPop.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	var queries []string
	for _, qs := range seededQueries(r, entries, 400) {
		if w := strings.Fields(qs); len(w) > 0 {
			rs := []rune(w[0])
			queries = append(queries, qs, w[0], string(rs[:max(1, len(rs)/3)]))
		}
	}
	var compare func(stage, qs string, kinds []Kind, limit int, got []Hit, total int, want []Hit, wantTotal int)
	check := func(stage string) {
		for _, qs := range queries {
			q, err := core.ParseQuery(qs)
			if err != nil {
				t.Fatal(err)
			}
			for _, kinds := range [][]Kind{nil, {KindTrack}, {KindArtist, KindAlbum}} {
				for _, limit := range []int{1, 10, 50} {
					req := Request{Query: q, Kinds: kinds, Limit: limit}
					want, wantTotal, err := full.Search(req)
					if err != nil {
						t.Fatal(err)
					}
					var pages [2][]Hit
					for i, ix := range []*Index{early, byPop} {
						got, total, err := ix.Search(req)
						if err != nil {
							t.Fatal(err)
						}
						compare(stage, qs, kinds, limit, got, total, want, wantTotal)
						pages[i] = got
					}
					// The popularity order ranks the same candidates as
					// collecting them all: the very same page.
					if !slices.EqualFunc(pages[0], pages[1], func(a, b Hit) bool { return a.Entry.Key() == b.Entry.Key() }) {
						t.Errorf("%s: %q %v limit %d: in popularity order %v, collected %v", stage, qs, kinds, limit, keys(pages[1]), keys(pages[0]))
					}
				}
			}
		}
	}
	compare = func(stage, qs string, kinds []Kind, limit int, got []Hit, total int, want []Hit, wantTotal int) {
		if total < wantTotal {
			t.Errorf("%s: %q %v: total %d below the exact %d", stage, qs, kinds, total, wantTotal)
		}
		if len(got) != len(want) {
			t.Errorf("%s: %q %v limit %d: %d hits, full path %d", stage, qs, kinds, limit, len(got), len(want))
			return
		}
		for i := range got {
			// Equal ranking values may name other entries (the early path
			// also ranks a slot by a later term's better attribute); no
			// hit may rank lower.
			g, w := got[i].Result, want[i].Result
			g.ID, w.ID = "", ""
			if core.Less(w, g) {
				t.Errorf("%s: %q %v limit %d: hit %d is %s %+v, full path %s %+v", stage, qs, kinds, limit, i,
					got[i].Entry.Key(), got[i].Result, want[i].Entry.Key(), want[i].Result)
			}
		}
	}
	check("built")
	one, fewer := early.paths[pathOne].Load(), early.paths[pathFewer].Load()
	pop := byPop.paths[pathPop].Load()
	t.Logf("early index: %d one-word, %d fewer-slot, %d full-path answers; %d in popularity order", one, fewer, early.paths[pathFull].Load(), pop)
	if one == 0 || fewer == 0 || pop == 0 || full.paths[pathOne].Load()+full.paths[pathFewer].Load()+full.paths[pathPop].Load() != 0 {
		t.Fatalf("paths not taken as set up: early %d one-word, %d fewer-slot, %d by popularity; full index %d, %d, %d",
			one, fewer, pop, full.paths[pathOne].Load(), full.paths[pathFewer].Load(), full.paths[pathPop].Load())
	}
	// Updates: popularity changes (new slots appended out of order) and
	// removals (dead slots), applied to both.
	ctx := t.Context()
	for i := 0; i < len(entries); i += 7 {
		e := entries[i]
		e.Popularity = float64(r.IntN(1000))
		for _, ix := range []*Index{full, early, byPop} {
			if err := ix.Upsert(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := 3; i < len(entries); i += 11 {
		for _, ix := range []*Index{full, early, byPop} {
			if err := ix.Remove(ctx, entries[i].Kind, entries[i].ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	check("updated")
}

// TestAtLeast checks the bit-sliced word counters against plain counts:
// 64 lanes given 0 to MaxWords words each, every threshold.
func TestAtLeast(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	var sc scratch
	for j := range sc.count {
		sc.count[j] = make([]uint64, 1)
	}
	var want [64]int
	for range MaxWords {
		var w uint64
		for lane := range 64 {
			if r.IntN(2) == 0 {
				w |= 1 << lane
				want[lane]++
			}
		}
		for j, carry := 0, w; j < counterBits && carry != 0; j++ {
			c := sc.count[j][0]
			sc.count[j][0], carry = c^carry, c&carry
		}
	}
	for m := 0; m <= MaxWords+1; m++ {
		got := sc.atLeast(0, m)
		for lane := range 64 {
			if (got>>lane&1 == 1) != (want[lane] >= m) {
				t.Errorf("m %d lane %d: count %d, atLeast says %v", m, lane, want[lane], got>>lane&1 == 1)
			}
		}
	}
}

// keys returns the entry keys of hits.
func keys(hits []Hit) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Entry.Key()
	}
	return out
}
