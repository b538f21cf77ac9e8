package search

import (
	"errors"
	"unicode/utf8"
)

// Token is one word of a text: its folded spelling and where it came from.
type Token struct {
	// Runes is the folded word; never empty.
	Runes []rune
	// Start and End are the byte offsets of the word in the original text.
	Start, End int
	// srcEnd[i] is the byte offset in the original text just past the
	// character that produced folded rune i (one character can fold to
	// several runes, ß → ss).
	srcEnd []int
	// Pos is the word's index among the text's words.
	Pos int
}

// String returns the folded word.
func (t Token) String() string { return string(t.Runes) }

// endOf returns the byte offset in the original text just past the first n
// folded runes of t (n ≥ 1).
func (t Token) endOf(n int) int {
	if n <= 0 {
		return t.Start
	}
	if n > len(t.srcEnd) {
		n = len(t.srcEnd)
	}
	return t.srcEnd[n-1]
}

// Tokenize splits text into folded words. A word is a run of letters,
// digits and combining marks; every other character separates words.
// Invalid UTF-8 bytes separate words too. The returned tokens own their
// slices (the tokens of one call share two arrays, each token's slices
// capped at its own part).
func Tokenize(text string) []Token {
	return tokenize(text, &tokenBuf{runes: make([]rune, 0, len(text)), ends: make([]int, 0, len(text))})
}

// tokenBuf holds the arrays tokens are made in: Tokenize's own, or one
// Match's, reused across calls (matchBufs). Tokens of several texts made
// in one tokenBuf stay valid as it grows (a grown array is a copy; the
// earlier tokens keep the old one).
type tokenBuf struct {
	runes  []rune
	ends   []int
	bounds []int
	toks   []Token
}

// tokenize is Tokenize appending to b's arrays.
func tokenize(text string, b *tokenBuf) []Token {
	// Folded runes and their source ends of all words, in one array each;
	// bounds[i] is where token i starts in them.
	first := len(b.toks)
	toks, runes, ends, bounds := b.toks, b.runes, b.ends, b.bounds[:0]
	in := false
	for i, r := range text {
		size := utf8.RuneLen(r)
		if r == utf8.RuneError {
			_, size = utf8.DecodeRuneInString(text[i:])
		}
		if r == utf8.RuneError || !isWordRune(r) {
			in = false
			continue
		}
		f := foldRune(r)
		if f == "" {
			// A lone combining mark: part of the word it follows, if any.
			if in {
				toks[len(toks)-1].End = i + size
				if n := len(ends); n > bounds[len(bounds)-1] {
					ends[n-1] = i + size
				}
			}
			continue
		}
		if !in {
			toks = append(toks, Token{Start: i, Pos: len(toks) - first})
			bounds = append(bounds, len(runes))
			in = true
		}
		for _, fr := range f {
			runes = append(runes, fr)
			ends = append(ends, i+size)
		}
		toks[len(toks)-1].End = i + size
	}
	for k := range bounds {
		lo, hi := bounds[k], len(runes)
		if k+1 < len(bounds) {
			hi = bounds[k+1]
		}
		toks[first+k].Runes = runes[lo:hi:hi]
		toks[first+k].srcEnd = ends[lo:hi:hi]
	}
	b.toks, b.runes, b.ends, b.bounds = toks, runes, ends, bounds
	if len(toks) == first {
		return nil
	}
	return toks[first:len(toks):len(toks)]
}

// CountWords returns how many words Tokenize finds in text, without
// allocating.
func CountWords(text string) int {
	n, in := 0, false
	for _, r := range text {
		if r == utf8.RuneError || !isWordRune(r) {
			in = false
			continue
		}
		if foldRune(r) == "" {
			continue // a combining mark: part of the word it follows
		}
		if !in {
			n++
			in = true
		}
	}
	return n
}

// Query limits.
const (
	// MaxQueryBytes is the longest query text ParseQuery accepts.
	MaxQueryBytes = 256
	// MaxQueryWords is the most words a query may have (Meilisearch's limit).
	MaxQueryWords = 10
	// MaxWordRunes is the longest folded query word; longer words are cut
	// to this length and, like the last word, matched as a prefix (it
	// bounds the work of a distance computation).
	MaxWordRunes = 48
)

// Errors returned by ParseQuery.
var (
	ErrQueryTooLong     = errors.New("search: query longer than 256 bytes")
	ErrQueryInvalidUTF8 = errors.New("search: query is not valid UTF-8")
	ErrTooManyWords     = errors.New("search: query has more than 10 words")
)

// Query is a parsed search query.
type Query struct {
	// Words are the query's folded words, in order.
	Words []Token
	// LastIsPrefix reports whether the last word is matched as a prefix:
	// true unless the query text ends with a separator.
	LastIsPrefix bool
}

// ParseQuery folds and splits text into a Query. A query without words is
// valid and matches nothing.
func ParseQuery(text string) (Query, error) {
	if len(text) > MaxQueryBytes {
		return Query{}, ErrQueryTooLong
	}
	if !utf8.ValidString(text) {
		return Query{}, ErrQueryInvalidUTF8
	}
	toks := Tokenize(text)
	if len(toks) > MaxQueryWords {
		return Query{}, ErrTooManyWords
	}
	for i := range toks {
		if len(toks[i].Runes) > MaxWordRunes {
			toks[i].Runes = toks[i].Runes[:MaxWordRunes]
			toks[i].srcEnd = toks[i].srcEnd[:MaxWordRunes]
		}
	}
	q := Query{Words: toks}
	if n := len(toks); n > 0 {
		q.LastIsPrefix = toks[n-1].End == len(text)
	}
	return q, nil
}

// isPrefix reports whether query word i is matched as a prefix: the last
// word while typing, and a word cut to MaxWordRunes.
func (q Query) isPrefix(i int) bool {
	return (q.LastIsPrefix && i == len(q.Words)-1) || len(q.Words[i].Runes) == MaxWordRunes
}

// TypoBudget returns how many typos a query word of n folded runes may
// have: 0 under 5, 1 from 5, 2 from 9.
func TypoBudget(n int) int {
	switch {
	case n >= 9:
		return 2
	case n >= 5:
		return 1
	default:
		return 0
	}
}

// PairTypoBudget returns how many typos two adjacent query words written
// together (n folded runes in all) may have: one fewer than a single word
// of that length, as Meilisearch does for its 2-grams ("day tripper" may
// find "Daytriper", not a word two typos away from the concatenation).
func PairTypoBudget(n int) int { return max(TypoBudget(n)-1, 0) }

// WordTypos reports whether the folded query word w matches the folded
// word term within budget typos (as a prefix of term when prefix is
// set), with how many typos, and how many runes of term the match covers
// (the closest prefix's length, len(term) without prefix). An index uses
// it to order candidate terms.
func WordTypos(w []rune, term []rune, budget int, prefix bool) (typos, n int, ok bool) {
	d, n := distance(w, term, budget, prefix)
	return d, n, d <= budget
}
