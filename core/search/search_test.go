package search

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestFold(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Björk", "bjork"},
		{"Straße", "strasse"},
		{"STRASSE", "strasse"},
		{"Æther", "aether"},
		{"Sigur Rós", "sigur ros"},
		{"Mötley Crüe", "motley crue"},
		{"Øystein", "oystein"},
		{"Łódź", "lodz"},
		{"Beyoncé", "beyonce"},
		{"Beyonce\u0301", "beyonce"}, // decomposed é
		{"Þór", "thor"},
		{"ＡＢＢＡ", "abba"}, // full width
		{"ﬁre", "fire"},  // ligature
		{"AC/DC", "ac/dc"},
		{"Ὀδυσσεύς", "οδυσσευσ"},
	} {
		if got := Fold(tc.in); got != tc.want {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func words(toks []Token) []string {
	var out []string
	for _, t := range toks {
		out = append(out, t.String())
	}
	return out
}

func TestTokenize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"AC/DC", []string{"ac", "dc"}},
		{"Guns N' Roses", []string{"guns", "n", "roses"}},
		{"P!nk", []string{"p", "nk"}},
		{"The The", []string{"the", "the"}},
		{"  Day-Tripper (Remastered 2009) ", []string{"day", "tripper", "remastered", "2009"}},
		{"Björk", []string{"bjork"}},
		{"Beyonce\u0301 x", []string{"beyonce", "x"}},
		{"\u0301lone", []string{"lone"}},
		{"a\xffb", []string{"a", "b"}},
		{"!!!", nil},
		{"", nil},
		{"東京事変", []string{"東京事変"}},
	} {
		if got := words(Tokenize(tc.in)); !slices.Equal(got, tc.want) {
			t.Errorf("Tokenize(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if n := CountWords(tc.in); n != len(tc.want) {
			t.Errorf("CountWords(%q) = %d, want %d", tc.in, n, len(tc.want))
		}
	}
}

func TestTokenizeOffsets(t *testing.T) {
	text := "Die Straße, Björk"
	toks := Tokenize(text)
	want := []string{"Die", "Straße", "Björk"}
	for i, tok := range toks {
		if got := text[tok.Start:tok.End]; got != want[i] {
			t.Errorf("token %d covers %q, want %q", i, got, want[i])
		}
		if tok.Pos != i {
			t.Errorf("token %d has Pos %d", i, tok.Pos)
		}
	}
	// "strasse": the folded prefix "stras" ends inside ß's expansion, so
	// it maps to the end of ß.
	if got := text[toks[1].Start:toks[1].endOf(5)]; got != "Straß" {
		t.Errorf("prefix of 5 folded runes covers %q, want %q", got, "Straß")
	}
}

func TestTypoBudget(t *testing.T) {
	for n, want := range map[int]int{0: 0, 1: 0, 4: 0, 5: 1, 8: 1, 9: 2, 20: 2} {
		if got := TypoBudget(n); got != want {
			t.Errorf("TypoBudget(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		q, t   string
		max    int
		prefix bool
		want   int
		wantN  int
	}{
		{"kitten", "sitting", 3, false, 3, 7},
		{"kitten", "sitting", 2, false, 3, 7},  // over max: max+1
		{"beatles", "baetles", 2, false, 1, 7}, // swap counts once
		{"ca", "abc", 3, false, 3, 3},          // OSA, not unrestricted DL
		{"metallica", "metalica", 2, false, 1, 8},
		{"abba", "abba", 0, false, 0, 4},
		{"abcdefgh", "ab", 2, false, 3, 2}, // length gap over max
		{"beatl", "beatles", 0, true, 0, 5},
		{"baetl", "beatles", 1, true, 1, 5},
		{"metalica", "metallica", 1, true, 1, 9},
		{"zzz", "beatles", 1, true, 2, 7},
		{"", "abc", 0, true, 0, 0},
	} {
		d, n := distance([]rune(tc.q), []rune(tc.t), tc.max, tc.prefix)
		if d != tc.want || (d <= tc.max && n != tc.wantN) {
			t.Errorf("distance(%q, %q, %d, %v) = %d, %d; want %d, %d", tc.q, tc.t, tc.max, tc.prefix, d, n, tc.want, tc.wantN)
		}
	}
}

func TestParseQuery(t *testing.T) {
	q, err := ParseQuery("Guns N' Ros")
	if err != nil {
		t.Fatal(err)
	}
	if got := words(q.Words); !slices.Equal(got, []string{"guns", "n", "ros"}) || !q.LastIsPrefix {
		t.Errorf("words %q prefix %v", got, q.LastIsPrefix)
	}
	q, _ = ParseQuery("guns n roses ")
	if q.LastIsPrefix {
		t.Error("a query ending in a space must not match its last word as a prefix")
	}
	q, _ = ParseQuery("roses!")
	if q.LastIsPrefix {
		t.Error("a query ending in punctuation must not match its last word as a prefix")
	}
	q, _ = ParseQuery(strings.Repeat("x", 100))
	if len(q.Words[0].Runes) != MaxWordRunes {
		t.Errorf("long word kept %d runes, want %d", len(q.Words[0].Runes), MaxWordRunes)
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{strings.Repeat("a", MaxQueryBytes), nil},
		{strings.Repeat("a", MaxQueryBytes+1), ErrQueryTooLong},
		{"ab\xffc", ErrQueryInvalidUTF8},
		{strings.Repeat("a ", MaxQueryWords), nil},
		{strings.Repeat("a ", MaxQueryWords+1), ErrTooManyWords},
		{"", nil},
		{" ,;! ", nil},
	} {
		if _, err := ParseQuery(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("ParseQuery(%.20q…) error %v, want %v", tc.in, err, tc.want)
		}
	}
}

func mustQuery(t *testing.T, s string) Query {
	t.Helper()
	q, err := ParseQuery(s)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func track(id, title, artist, album string, pop float64) Document {
	return Document{ID: id, Popularity: pop, Fields: []Field{
		{AttrTitle, title}, {AttrArtist, artist}, {AttrAlbum, album},
	}}
}

// TestMatchRules checks which queries match which text, and with how many
// typos, rule by rule.
func TestMatchRules(t *testing.T) {
	for _, tc := range []struct {
		rule, query, text string
		match             bool
		typos             int
	}{
		{"folding", "bjork", "Björk", true, 0},
		{"folding", "BJÖRK", "bjork", true, 0},
		{"folding ß", "strasse", "Straße", true, 0},
		{"folding Æ", "aether", "Æther", true, 0},
		{"punctuation", "ac dc", "AC/DC", true, 0},
		{"punctuation", "ac/dc", "AC/DC", true, 0},
		{"punctuation concatenated", "acdc", "AC/DC", true, 0},
		{"punctuation", "guns n roses", "Guns N' Roses", true, 0},
		{"punctuation", "p!nk", "P!nk", true, 0},
		{"punctuation concatenated", "pnk", "P!nk", true, 0},
		{"under 5: no typo", "abab ", "ABBA", false, 0},
		{"under 5: no typo", "bjrk ", "Björk", false, 0},
		{"5 letters: one typo", "bjrok ", "Björk", true, 1},
		{"5 letters: one typo, swap once", "mdaonna ", "Madonna", true, 1},
		{"5 letters: not two", "mdaona ", "Madonna", false, 0},
		{"9 letters: two typos", "metlalcia ", "Metallica", true, 2},
		{"9 letters: not three", "mtelalcia ", "Metallica", false, 0},
		{"last word prefix", "beat", "The Beatles", true, 0},
		{"last word prefix with typo", "baetle", "The Beatles", true, 1},
		{"prefix only for the last word", "beat abbey", "Beatles Abbey", false, 0},
		{"trailing space: whole word", "beat ", "The Beatles", false, 0},
		{"split query", "day tripper", "Daytripper", true, 0},
		{"split query, one typo in the pair", "dya tripper", "Daytripper", true, 1},
		{"split query, not two typos in the pair", "dya trpiper", "Daytripper", false, 0},
		{"concatenated query", "daytripper", "Day Tripper", true, 0},
		{"concatenated query, prefix", "daytrip", "Day Tripper", true, 0},
		{"nothing close", "xqzvw", "The Beatles", false, 0},
	} {
		q := mustQuery(t, tc.query)
		r, ok := Match(q, Document{ID: "d", Fields: []Field{{AttrTitle, tc.text}}})
		ok = ok && r.WordsMatched == len(q.Words)
		if ok != tc.match {
			t.Errorf("%s: %q vs %q: matched %v (%+v), want %v", tc.rule, tc.query, tc.text, ok, r, tc.match)
			continue
		}
		if ok && r.Typos != tc.typos {
			t.Errorf("%s: %q vs %q: %d typos, want %d", tc.rule, tc.query, tc.text, r.Typos, tc.typos)
		}
	}
}

func TestHighlights(t *testing.T) {
	d := track("t", "Jóga", "Björk", "Homogenic", 0)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"bjo", []string{"Bjö"}},
		{"joga bjork", []string{"Jóga", "Björk"}},
		{"homogen", []string{"Homogen"}},
	} {
		r, ok := Match(mustQuery(t, tc.query), d)
		if !ok {
			t.Fatalf("%q: no match", tc.query)
		}
		var got []string
		for _, h := range r.Highlights {
			got = append(got, d.Fields[h.Field].Text[h.Start:h.End])
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%q: highlights %q, want %q", tc.query, got, tc.want)
		}
	}
	d = Document{ID: "s", Fields: []Field{{AttrTitle, "Day Tripper"}}}
	r, _ := Match(mustQuery(t, "daytripper "), d)
	if len(r.Highlights) != 1 || d.Fields[0].Text[r.Highlights[0].Start:r.Highlights[0].End] != "Day Tripper" {
		t.Errorf("split highlight %+v", r.Highlights)
	}
}

// TestRankingOrder checks each ranking criterion against the next one: the
// first document wins on the named criterion although it loses on every
// later one.
func TestRankingOrder(t *testing.T) {
	for _, tc := range []struct {
		criterion string
		query     string
		better    Document
		worse     Document
	}{
		{"words matched", "love me do",
			track("a", "Love Me Do", "x", "y", 0),
			track("b", "Love Me", "x", "y", 100)},
		{"typos", "yesterday ",
			track("a", "Yesterday Forever", "x", "y", 0),
			track("b", "Yesterdya", "x", "y", 100)},
		{"proximity: separate words beat nothing closer", "g na",
			track("a", "G.NA", "x", "y", 0),
			track("b", "Gnarls", "x", "y", 100)},
		{"proximity", "hey jude ",
			track("a", "Hey Jude", "x", "y", 0),
			track("b", "Hey There Jude", "x", "y", 100)},
		{"attribute title > artist", "abba ",
			track("a", "Abba Song", "x", "y", 0),
			track("b", "Song", "Abba", "y", 100)},
		{"attribute artist > album", "abba ",
			track("a", "Song", "Abba Tribute", "y", 0),
			track("b", "Song", "x", "Abba", 100)},
		{"attribute album > other", "abba ",
			track("a", "Song", "x", "Abba Gold", 0),
			Document{ID: "b", Popularity: 100, Fields: []Field{{AttrTitle, "Song"}, {AttrOther, "Abba"}}}},
		{"exactness: whole field", "the the ",
			track("a", "The The", "x", "y", 0),
			track("b", "The The Band", "x", "y", 100)},
		{"exactness: a field as long as the match, last word a prefix", "beas",
			track("a", "Beast", "x", "y", 0),
			track("b", "Beastie Boys", "x", "y", 100)},
		{"exactness: a field as long as the match, with a typo", "besat",
			track("a", "Beast", "x", "y", 0),
			track("b", "Beastie Boys", "x", "y", 100)},
		{"exactness: a field as long as the match, in the matched attribute", "mus",
			track("a", "Song", "Muse", "y", 0),
			track("b", "Song", "Muse Tribute", "z", 100)},
		{"exactness: a field as long as the match before whole words", "star",
			track("a", "Starkey", "x", "y", 0),
			track("b", "Jeffree Star", "x", "y", 100)},
		{"exactness: whole field before a field as long as the match", "beast ",
			track("a", "Beast", "x", "y", 0),
			track("b", "Beasts", "x", "y", 100)},
		{"exactness: whole words", "beatles",
			track("a", "Beatles Tribute", "x", "y", 0),
			track("b", "Beatlesque Tribute", "x", "y", 100)},
		{"popularity", "hello ",
			track("a", "Hello", "x", "y", 10),
			track("b", "Hello", "x", "y", 1)},
	} {
		got := Rank(mustQuery(t, tc.query), []Document{tc.worse, tc.better})
		if len(got) != 2 || got[0].ID != tc.better.ID {
			t.Errorf("%s: %q ranked %+v, want %s first", tc.criterion, tc.query, got, tc.better.ID)
		}
	}
}

func TestRankDropsNonMatches(t *testing.T) {
	docs := []Document{track("a", "Yesterday", "The Beatles", "Help!", 0), track("b", "Jóga", "Björk", "Homogenic", 0)}
	got := Rank(mustQuery(t, "zzzzzz"), docs)
	if len(got) != 0 {
		t.Errorf("out-of-budget query matched %+v", got)
	}
	if got := Rank(mustQuery(t, ""), docs); len(got) != 0 {
		t.Errorf("empty query matched %+v", got)
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "AC/DC", "Guns N' Roses", "P!nk", "Björk ", "Beyonce\u0301", "ß\xff", "東京 事変"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, want := CountWords(s), len(Tokenize(s)); n != want {
			t.Fatalf("CountWords = %d, Tokenize found %d words", n, want)
		}
		q, err := ParseQuery(s)
		if err != nil {
			if !errors.Is(err, ErrQueryTooLong) && !errors.Is(err, ErrQueryInvalidUTF8) && !errors.Is(err, ErrTooManyWords) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(q.Words) > MaxQueryWords {
			t.Fatalf("%d words", len(q.Words))
		}
		last := 0
		for i, w := range q.Words {
			if len(w.Runes) == 0 || len(w.Runes) > MaxWordRunes {
				t.Fatalf("word %d has %d runes", i, len(w.Runes))
			}
			if w.Start < last || w.End <= w.Start || w.End > len(s) {
				t.Fatalf("word %d spans %d..%d after %d in %d bytes", i, w.Start, w.End, last, len(s))
			}
			if end := w.endOf(len(w.Runes)); end > w.End || end <= w.Start {
				t.Fatalf("word %d folded end %d outside %d..%d", i, end, w.Start, w.End)
			}
			last = w.End
		}
		// Matching the query against its own text never fails.
		if len(q.Words) > 0 {
			r, ok := Match(q, Document{ID: "self", Fields: []Field{{AttrTitle, s}}})
			if !ok || r.WordsMatched != len(q.Words) || r.Typos != 0 {
				t.Fatalf("query does not match its own text: %+v %v", r, ok)
			}
		}
	})
}

func TestWordTypos(t *testing.T) {
	for _, tc := range []struct {
		w, term string
		prefix  bool
		typos   int
		ok      bool
	}{
		{"bjork", "bjork", false, 0, true},
		{"bjrok", "bjork", false, 1, true},
		{"bjrk", "bjork", false, 1, false},
		{"metal", "metallica", true, 0, true},
		{"metal", "metallica", false, 2, false},
	} {
		typos, _, ok := WordTypos([]rune(tc.w), []rune(tc.term), TypoBudget(len([]rune(tc.w))), tc.prefix)
		if ok != tc.ok || (ok && typos != tc.typos) {
			t.Errorf("WordTypos(%q, %q, %v) = %d, %v; want %d, %v", tc.w, tc.term, tc.prefix, typos, ok, tc.typos, tc.ok)
		}
	}
}

// TestFoldASCII checks the table that folds ASCII without allocating:
// every ASCII character folds to itself, A–Z to a–z.
func TestFoldASCII(t *testing.T) {
	for r := range rune(utf8.RuneSelf) {
		want := string(r)
		if 'A' <= r && r <= 'Z' {
			want = string(r + 'a' - 'A')
		}
		if got := foldRune(r); got != want {
			t.Errorf("foldRune(%q) = %q, want %q", r, got, want)
		}
	}
	// Its arrays grow (ten allocations for these four words), but no
	// character allocates (it took 16 more when each did).
	if n := testing.AllocsPerRun(100, func() { _ = Tokenize("AC/DC Back in Black") }); n > 10 {
		t.Errorf("Tokenize of ASCII text: %.0f allocations, want at most 10", n)
	}
}
