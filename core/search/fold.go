package search

import (
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// specialFolds spells out letters that neither lower-case nor decompose to a
// base letter plus marks.
var specialFolds = map[rune]string{
	'ß': "ss", 'ẞ': "ss",
	'æ': "ae", 'Æ': "ae",
	'œ': "oe", 'Œ': "oe",
	'ø': "o", 'Ø': "o",
	'đ': "d", 'Đ': "d",
	'ð': "d", 'Ð': "d",
	'ł': "l", 'Ł': "l",
	'þ': "th", 'Þ': "th",
	'ı': "i",
	'ħ': "h", 'Ħ': "h",
	'ŀ': "l", 'Ŀ': "l",
	'ς': "σ",
}

// asciiFolds holds the folded spelling of each ASCII character, so that
// folding one allocates nothing.
var asciiFolds = func() (t [utf8.RuneSelf]string) {
	for r := range rune(utf8.RuneSelf) {
		f := r
		if 'A' <= r && r <= 'Z' {
			f += 'a' - 'A'
		}
		t[r] = string(f)
	}
	return t
}()

// foldCache memoises foldRune for non-ASCII runes (rune → string).
var foldCache sync.Map

// foldRune returns the folded spelling of r: empty for a combining mark,
// otherwise one or more lower-case runes without diacritics.
func foldRune(r rune) string {
	if r < utf8.RuneSelf {
		return asciiFolds[r]
	}
	if v, ok := foldCache.Load(r); ok {
		return v.(string)
	}
	var out []rune
	for _, d := range norm.NFKD.String(string(r)) {
		if unicode.Is(unicode.Mn, d) || unicode.Is(unicode.Me, d) {
			continue
		}
		if s, ok := specialFolds[d]; ok {
			out = append(out, []rune(s)...)
			continue
		}
		d = unicode.ToLower(d)
		if s, ok := specialFolds[d]; ok {
			out = append(out, []rune(s)...)
			continue
		}
		out = append(out, d)
	}
	s := string(out)
	foldCache.Store(r, s)
	return s
}

// Fold returns s case-folded and without diacritics, keeping every other
// character (punctuation and spaces included) as it folds.
func Fold(s string) string {
	buf := make([]byte, 0, len(s))
	for _, r := range s {
		buf = append(buf, foldRune(r)...)
	}
	return string(buf)
}

// isWordRune reports whether r belongs to a word: letters, digits and marks
// (a combining mark continues the word it follows).
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || unicode.IsNumber(r)
}
