package search

import (
	"cmp"
	"slices"
	"sync"
)

// Attribute is the kind of field a word matched in; lower ranks higher.
type Attribute uint8

// Attributes in ranking order.
const (
	AttrTitle Attribute = iota
	AttrArtist
	AttrAlbum
	AttrOther
)

// Field is one searchable text of a document.
type Field struct {
	Attr Attribute
	Text string
}

// Document is what a query is matched against: a track, album, artist or
// playlist with its searchable fields. Popularity breaks the last ties
// (higher first).
type Document struct {
	ID         string
	Fields     []Field
	Popularity float64
}

// Highlight marks the matched part of a field: Field indexes
// Document.Fields, Start and End are byte offsets into its Text.
type Highlight struct {
	Field int `json:"field"`
	Start int `json:"start"`
	End   int `json:"end"`
}

// Result is how a document matched a query, with the ranking criteria in
// ranking order.
type Result struct {
	ID string
	// WordsMatched counts the query words matched (more ranks higher).
	WordsMatched int
	// Typos sums the typos of the matched words (fewer ranks higher).
	Typos int
	// Proximity sums the distances between consecutive matched words, 7 at
	// most within a field and 8 across fields (smaller ranks higher).
	Proximity int
	// Attribute sums the Attribute of each matched word (smaller ranks
	// higher: title > artist > album > other).
	Attribute int
	// FieldExact reports that some field's words are exactly the query's.
	FieldExact bool
	// SameLength reports that the query is one word and it matched in a
	// field of one word of its attribute: Meilisearch's "attribute equal
	// to the query" with the word's typos and prefix allowed, so "beas"
	// ranks Beast before Beastie Boys. Only for one-word queries: for
	// several, an index's early stops in popularity order could no longer
	// bound it (a fifth to a quarter more CPU per query at 1M tracks). An
	// index knows it before matching (core/searchindex's pre-rank).
	SameLength bool
	// ExactWords counts the query words matched whole without a typo.
	ExactWords int
	Popularity float64
	// Highlights are the matched ranges, ordered by field then offset.
	Highlights []Highlight
}

// Less reports whether a ranks before b: words matched, typos, proximity,
// attribute, exactness (a field equal to the query, then a one-word
// query matching a field of one word, then the words matched exactly),
// popularity, then id for a stable order.
func Less(a, b Result) bool { return compare(a, b) < 0 }

func compare(a, b Result) int {
	if c := cmp.Compare(b.WordsMatched, a.WordsMatched); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Typos, b.Typos); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Proximity, b.Proximity); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Attribute, b.Attribute); c != 0 {
		return c
	}
	if a.FieldExact != b.FieldExact {
		if a.FieldExact {
			return -1
		}
		return 1
	}
	if a.SameLength != b.SameLength {
		if a.SameLength {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.ExactWords, a.ExactWords); c != 0 {
		return c
	}
	if c := cmp.Compare(b.Popularity, a.Popularity); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Rank matches q against docs and returns the matching ones best first.
func Rank(q Query, docs []Document) []Result {
	var out []Result
	for _, d := range docs {
		if r, ok := Match(q, d); ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, compare)
	return out
}

// hit is the best match of one query word (or two concatenated query
// words) in a document.
type hit struct {
	typos int
	attr  Attribute
	field int
	pos   int // first word position covered in the field
	span  int // words of the field covered (2 for a split query word)
	words int // query words covered (2 for concatenated query words)
	exact bool
	hl    Highlight
}

// betterHit orders hits of the same query word(s): typos, attribute,
// exactness, position.
func betterHit(a, b hit) bool {
	if a.typos != b.typos {
		return a.typos < b.typos
	}
	if a.attr != b.attr {
		return a.attr < b.attr
	}
	if a.exact != b.exact {
		return a.exact
	}
	if a.field != b.field {
		return a.field < b.field
	}
	return a.pos < b.pos
}

// matchWord finds the best hit of the folded word w, within budget typos,
// among the fields' words and adjacent word pairs (a query word may be two
// document words written together).
func matchWord(w []rune, budget int, prefix bool, d Document, fields [][]Token, buf []rune) (hit, bool) {
	var best hit
	found := false
	consider := func(h hit) {
		if !found || betterHit(h, best) {
			best, found = h, true
		}
	}
	for f, toks := range fields {
		attr := d.Fields[f].Attr
		for p, tok := range toks {
			if dist, n := distance(w, tok.Runes, budget, prefix); dist <= budget {
				consider(hit{
					typos: dist, attr: attr, field: f, pos: p, span: 1, words: 1,
					exact: dist == 0 && n == len(tok.Runes) && n == len(w),
					hl:    Highlight{Field: f, Start: tok.Start, End: tok.endOf(n)},
				})
			}
			if p+1 >= len(toks) || len(tok.Runes) >= len(w)+budget {
				continue
			}
			next := toks[p+1]
			buf = append(append(buf[:0], tok.Runes...), next.Runes...)
			if dist, n := distance(w, buf, budget, prefix); dist <= budget && n > len(tok.Runes) {
				consider(hit{
					typos: dist, attr: attr, field: f, pos: p, span: 2, words: 1,
					hl: Highlight{Field: f, Start: tok.Start, End: next.endOf(n - len(tok.Runes))},
				})
			}
		}
	}
	return best, found
}

// matchBuf is one Match's scratch space, reused across calls: its
// documents' tokens and the runes of query words written together.
type matchBuf struct {
	tb     tokenBuf
	fields [][]Token
	buf    []rune
	cat    []rune
}

var matchBufs = sync.Pool{New: func() any { return &matchBuf{buf: make([]rune, 0, 2*MaxWordRunes)} }}

// Match matches q against d. It reports false when no query word matches.
func Match(q Query, d Document) (Result, bool) {
	nw := len(q.Words)
	if nw == 0 {
		return Result{}, false
	}
	mb := matchBufs.Get().(*matchBuf)
	defer func() {
		clear(mb.tb.toks) // no text kept alive by the pool
		mb.tb.toks, mb.tb.runes, mb.tb.ends = mb.tb.toks[:0], mb.tb.runes[:0], mb.tb.ends[:0]
		mb.fields = mb.fields[:0]
		matchBufs.Put(mb)
	}()
	for _, f := range d.Fields {
		mb.fields = append(mb.fields, tokenize(f.Text, &mb.tb))
	}
	fields := mb.fields
	buf := mb.buf[:0]
	singles := make([]*hit, nw)
	pairs := make([]*hit, nw)
	hits := make([]hit, 2*nw)
	for i, w := range q.Words {
		if h, ok := matchWord(w.Runes, TypoBudget(len(w.Runes)), q.isPrefix(i), d, fields, buf); ok {
			hits[2*i] = h
			singles[i] = &hits[2*i]
		}
		if i+1 < nw {
			mb.cat = append(append(mb.cat[:0], w.Runes...), q.Words[i+1].Runes...)
			cat := mb.cat
			if h, ok := matchWord(cat, PairTypoBudget(len(cat)), q.isPrefix(i+1), d, fields, buf); ok && h.span == 1 {
				h.words, h.exact = 2, false
				hits[2*i+1] = h
				pairs[i] = &hits[2*i+1]
			}
		}
	}
	// Choose single or concatenated matches over the query words: most
	// words matched, then fewest typos (a small dynamic programme).
	type state struct {
		ok      bool
		matched int
		typos   int
		units   []hit
	}
	states := make([]state, nw+1)
	states[0].ok = true
	improve := func(to int, from state, h *hit) {
		s := state{ok: true, matched: from.matched, typos: from.typos, units: from.units}
		if h != nil {
			s.matched += h.words
			s.typos += h.typos
			s.units = append(slices.Clip(from.units), *h)
		}
		t := states[to]
		if !t.ok || s.matched > t.matched || (s.matched == t.matched && s.typos < t.typos) {
			states[to] = s
		}
	}
	for i := 0; i < nw; i++ {
		from := states[i]
		improve(i+1, from, nil)
		if singles[i] != nil {
			improve(i+1, from, singles[i])
		}
		if pairs[i] != nil {
			improve(i+2, from, pairs[i])
		}
	}
	final := states[nw]
	if final.matched == 0 {
		return Result{}, false
	}
	r := Result{ID: d.ID, WordsMatched: final.matched, Typos: final.typos, Popularity: d.Popularity}
	for k, u := range final.units {
		r.Attribute += int(u.attr) * u.words
		if u.exact {
			r.ExactWords += u.words
		}
		r.Highlights = append(r.Highlights, u.hl)
		if u.words == 2 {
			// Two query words written as one document word count as
			// adjacent, never closer than the same words apart.
			r.Proximity++
		}
		if k > 0 {
			r.Proximity += proximity(final.units[k-1], u)
		}
	}
	r.FieldExact = fieldExact(q, fields)
	r.SameLength = len(q.Words) == 1 && sameLength(r.Attribute, d, fields)
	slices.SortFunc(r.Highlights, func(a, b Highlight) int {
		if c := cmp.Compare(a.Field, b.Field); c != 0 {
			return c
		}
		return cmp.Compare(a.Start, b.Start)
	})
	r.Highlights = slices.Compact(r.Highlights)
	return r, true
}

// proximity is the distance between two consecutive matched query words:
// 1 for adjacent words in query order, up to 7 in the same field, one more
// when reversed, 8 across fields.
func proximity(a, b hit) int {
	if a.field != b.field {
		return 8
	}
	d := b.pos - (a.pos + a.span - 1)
	if d <= 0 {
		d = 1 - d + 1
	}
	return min(d, 7)
}

// sameLength reports whether d, whose fields' words are fields, has a
// field of attribute attr of one word.
func sameLength(attr int, d Document, fields [][]Token) bool {
	a := Attribute(attr)
	for f, toks := range fields {
		if d.Fields[f].Attr == a && len(toks) == 1 {
			return true
		}
	}
	return false
}

// fieldExact reports whether some field consists exactly of q's words.
func fieldExact(q Query, fields [][]Token) bool {
	for _, toks := range fields {
		if len(toks) != len(q.Words) {
			continue
		}
		same := true
		for i, t := range toks {
			if !slices.Equal(t.Runes, q.Words[i].Runes) {
				same = false
				break
			}
		}
		if same {
			return true
		}
	}
	return false
}
