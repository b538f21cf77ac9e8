package search

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"

	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/core/searchindex"
)

// lastfmDir finds the Last.fm 2k data set: $SEGUE_LASTFM_DIR, else
// ../shared/data/lastfm-2k from the repository root (or from its parent,
// for a git worktree). It is read in place, never copied into the repo.
func lastfmDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("SEGUE_LASTFM_DIR"); d != "" {
		return d
	}
	for _, rel := range []string{"../../../shared/data/lastfm-2k", "../../../../shared/data/lastfm-2k"} {
		if _, err := os.Stat(filepath.Join(rel, "artists.dat")); err == nil {
			return rel
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("lastfm-2k artists.dat not found: set SEGUE_LASTFM_DIR")
	}
	t.Skip("lastfm-2k artists.dat not found (../shared/data/lastfm-2k from the repo root, or SEGUE_LASTFM_DIR): skipping the quality test")
	return ""
}

// readTSV calls fn with the fields of each line of a tab-separated file
// after its header.
func readTSV(t *testing.T, path string, fn func(f []string)) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	sc.Scan()
	for sc.Scan() {
		fn(strings.Split(sc.Text(), "\t"))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// stripDiacritics removes combining marks, keeping case.
func stripDiacritics(s string) string {
	var b strings.Builder
	for _, r := range norm.NFD.String(s) {
		if !unicode.Is(unicode.Mn, r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// typo applies one edit (swap, substitution, deletion or insertion) inside
// a word of at least 5 letters, and a second one in a word of 9 or more,
// so that the damaged word's own budget (the query's) still covers them;
// it reports false when the name has no such word.
func typo(r *rand.Rand, name string) (string, bool) {
	words := strings.Fields(name)
	for i, w := range words {
		rs := []rune(w)
		n := core.TypoBudget(len(rs))
		if n == 0 || len(rs) != len([]rune(core.Fold(w))) {
			continue
		}
		for range n {
			k := 1 + r.IntN(len(rs)-2)
			switch op := r.IntN(4); {
			case op == 0:
				rs[k], rs[k+1] = rs[k+1], rs[k]
			case op == 1:
				rs[k] = 'a' + rune(r.IntN(26))
			case op == 2 && core.TypoBudget(len(rs)-1) >= n:
				rs = append(rs[:k], rs[k+1:]...)
			default:
				rs = append(rs[:k], append([]rune{'a' + rune(r.IntN(26))}, rs[k:]...)...)
			}
		}
		words[i] = string(rs)
		return strings.Join(words, " "), true
	}
	return "", false
}

// missClass says why a damaged query q may miss name: "split" when its
// words are not the name's words one for one (the damage moved a
// separator); "budget" when a word is farther from the name's word than
// the typo budget of its own length allows (a typo landed in a
// word under 5 letters of a name like "Shy'm", or two edits overlap);
// "unrestricted DL" when only the unrestricted Damerau–Levenshtein
// distance (an edit between swapped letters) is within the budget, not
// the optimal-string-alignment distance the index's automata compute;
// "another name" when q is exactly another artist's name; "refused" when
// the query is not valid (more than 10 words); else "ranking".
func missClass(q, name string, byWords map[string]bool) string {
	pq, err := core.ParseQuery(q)
	if err != nil {
		return "refused: " + err.Error()
	}
	qt, nt := core.Tokenize(q), core.Tokenize(name)
	if len(qt) != len(nt) {
		return "split"
	}
	for i := range qt {
		budget := core.TypoBudget(len(qt[i].Runes))
		prefix := pq.LastIsPrefix && i == len(qt)-1
		if _, _, ok := core.WordTypos(qt[i].Runes, nt[i].Runes, budget, prefix); ok {
			continue
		}
		if dlDistance(qt[i].Runes, nt[i].Runes) <= budget {
			return "unrestricted DL"
		}
		return "budget"
	}
	if wordsKey(q) != wordsKey(name) && byWords[wordsKey(q)] {
		return "another name"
	}
	return "ranking"
}

// wordsKey is s's folded words joined by spaces.
func wordsKey(s string) string {
	var b strings.Builder
	for i, t := range core.Tokenize(s) {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(string(t.Runes))
	}
	return b.String()
}

// dlDistance is the unrestricted Damerau–Levenshtein distance between a
// and b (Lowrance–Wagner: a swap counts once, and letters may be edited
// between swapped ones).
func dlDistance(a, b []rune) int {
	inf := len(a) + len(b)
	d := make([][]int, len(a)+2)
	for i := range d {
		d[i] = make([]int, len(b)+2)
	}
	d[0][0] = inf
	for i := 0; i <= len(a); i++ {
		d[i+1][0], d[i+1][1] = inf, i
	}
	for j := 0; j <= len(b); j++ {
		d[0][j+1], d[1][j+1] = inf, j
	}
	last := map[rune]int{}
	for i := 1; i <= len(a); i++ {
		db := 0
		for j := 1; j <= len(b); j++ {
			i1, j1 := last[b[j-1]], db
			cost := 1
			if a[i-1] == b[j-1] {
				cost, db = 0, j
			}
			d[i+1][j+1] = min(d[i][j]+cost, d[i+1][j]+1, d[i][j+1]+1, d[i1][j1]+(i-i1-1)+1+(j-j1-1))
		}
		last[a[i-1]] = i
	}
	return d[len(a)+1][len(b)+1]
}

// TestQualityLastFM damages real artist names the way people type,
// reports per kind of damage how often the intended artist ranks first and
// in the top 3, holds them to floors, and checks that queries with nothing
// close find nothing.
func TestQualityLastFM(t *testing.T) {
	dir := lastfmDir(t)
	plays := map[string]float64{}
	if _, err := os.Stat(filepath.Join(dir, "user_artists.dat")); err == nil {
		readTSV(t, filepath.Join(dir, "user_artists.dat"), func(f []string) {
			if len(f) == 3 {
				w, _ := strconv.ParseFloat(f[2], 64)
				plays[f[1]] += w
			}
		})
	}
	var entries []Entry
	readTSV(t, filepath.Join(dir, "artists.dat"), func(f []string) {
		if len(f) >= 2 && f[1] != "" && len(core.Tokenize(f[1])) > 0 && len(f[1]) <= searchindex.MaxTextBytes {
			entries = append(entries, Entry{Kind: KindArtist, ID: f[0], Title: f[1], Popularity: plays[f[0]]})
		}
	})
	ix, _ := openMemory(t, DefaultOptions(), entries...)
	t.Logf("%d artists indexed", len(entries))

	// The intended artist or any artist whose name folds the same counts.
	folded := map[string]string{}
	for _, e := range entries {
		folded[e.ID] = core.Fold(e.Title)
	}
	// byWords holds the names by their folded words, to tell a query
	// that is another artist's whole name.
	byWords := map[string]bool{}
	for _, e := range entries {
		byWords[wordsKey(e.Title)] = true
	}
	rank := func(q, id string) (int, []Hit) {
		pq, err := core.ParseQuery(q)
		if err != nil {
			return -1, nil
		}
		hits, _, err := ix.Search(Request{Query: pq, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hits {
			if h.Entry.ID == id || folded[h.Entry.ID] == folded[id] {
				return i, hits
			}
		}
		return -1, hits
	}

	r := rand.New(rand.NewPCG(13, 13))
	type tally struct {
		n, top1, top3 int
		// why counts the misses of top-1 ([0]) and top-3 ([1]) per class
		// (missClass).
		why [2]map[string]int
	}
	kinds := []string{"exact", "case", "missing diacritics", "typos", "prefix"}
	res := map[string]*tally{}
	for _, k := range kinds {
		res[k] = &tally{why: [2]map[string]int{{}, {}}}
	}
	damage := func(kind, name string) (string, bool) {
		switch kind {
		case "exact":
			return name, true
		case "case":
			if r.IntN(2) == 0 {
				return strings.ToLower(name), true
			}
			return strings.ToUpper(name), true
		case "missing diacritics":
			s := stripDiacritics(name)
			return s, s != name
		case "typos":
			return typo(r, name)
		default: // prefix: the last word cut to two thirds, at least 4 letters
			words := strings.Fields(name)
			rs := []rune(words[len(words)-1])
			if len(rs) < 5 {
				return "", false
			}
			words[len(words)-1] = string(rs[:max(4, len(rs)*2/3)])
			return strings.Join(words, " "), true
		}
	}
	// floors are the goal (top-1 ≥ 90 %, top-3 ≥ 98 %); the index
	// reaches typos 95.9 / 98.2 % and prefixes 94.0 / 99.1 % since the
	// exactness rule ranks a one-word query matching a one-word field first
	// ("beas": Beast before Beastie Boys). The misses left are classified
	// (missClass) and logged.
	floors := map[string][2]float64{
		"exact": {90, 98}, "case": {90, 98}, "missing diacritics": {90, 98},
		"typos": {90, 98}, "prefix": {90, 98},
	}
	const sample = 1000
	var misses []string
	for _, i := range r.Perm(len(entries)) {
		e := entries[i]
		for _, kind := range kinds {
			if res[kind].n >= sample {
				continue
			}
			q, ok := damage(kind, e.Title)
			if !ok {
				continue
			}
			res[kind].n++
			pos, hits := rank(q, e.ID)
			if pos == 0 {
				res[kind].top1++
				res[kind].top3++
				continue
			}
			why := missClass(q, e.Title, byWords)
			res[kind].why[0][why]++
			if pos > 0 {
				res[kind].top3++
				continue
			}
			res[kind].why[1][why]++
			m := fmt.Sprintf("%s: %q for %q (%.0f plays; %s):", kind, q, e.Title, e.Popularity, why)
			for _, h := range hits {
				m += fmt.Sprintf(" %q (%.0f)", h.Entry.Title, h.Entry.Popularity)
			}
			misses = append(misses, m)
		}
	}
	for _, m := range misses {
		t.Log("not in top 3:", m)
	}
	for _, kind := range kinds {
		c := res[kind]
		p1, p3 := 100*float64(c.top1)/float64(c.n), 100*float64(c.top3)/float64(c.n)
		t.Logf("%-20s %5d queries  top-1 %6.2f %%  top-3 %6.2f %%", kind, c.n, p1, p3)
		for i, top := range []string{"top-1", "top-3"} {
			if len(c.why[i]) > 0 {
				t.Logf("%-20s %s misses by class: %v", "", top, c.why[i])
			}
		}
		if c.n < 100 {
			t.Errorf("%s: only %d queries", kind, c.n)
		}
		if p1 < 90 || p3 < 98 {
			t.Logf("%s: below the issue's goal (top-1 ≥ 90 %%, top-3 ≥ 98 %%)", kind)
		}
		if f := floors[kind]; p1 < f[0] || p3 < f[1] {
			t.Errorf("%s: top-1 %.2f %%, top-3 %.2f %%: below the floor %.0f / %.0f %%", kind, p1, p3, f[0], f[1])
		}
	}

	// Out of budget with nothing close: random consonant strings.
	const letters = "bcdfghjklmnpqrstvwxz"
	garbage := 0
	for range 500 {
		var b strings.Builder
		for range 6 + r.IntN(6) {
			b.WriteByte(letters[r.IntN(len(letters))])
		}
		pq, _ := core.ParseQuery(b.String() + " ")
		if hits, _, _ := ix.Search(Request{Query: pq, Limit: 3}); len(hits) > 0 {
			garbage++
			if garbage <= 5 {
				t.Logf("garbage query %q found %q", b.String(), hits[0].Entry.Title)
			}
		}
	}
	t.Logf("garbage queries with results: %d of 500", garbage)
	if garbage > 0 {
		t.Errorf("%d of 500 queries with nothing close found results", garbage)
	}
}
