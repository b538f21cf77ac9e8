// Package search is the pure matching and ranking core of Segue's search,
// shared by the relay's catalog index (server/search) and the device's
// offline search: the same folding, tokenisation, typo rules and ranking on
// both sides, so a query ranks the same results the same way online and
// offline.
//
// The rules follow Meilisearch's:
//
//   - Text is folded: Unicode case folding, compatibility decomposition with
//     the diacritics removed, and a few letters that do not decompose spelled
//     out (Björk → bjork, ß → ss, Æ → ae, ø → o, ł → l).
//   - Words are runs of letters and digits; everything else separates words,
//     so AC/DC, "Guns N' Roses" and P!nk match without their punctuation.
//   - Each query word has a typo budget from its folded length in runes: 0
//     typos under 5, 1 from 5, 2 from 9. A typo is one Damerau–Levenshtein
//     edit (optimal string alignment: an adjacent swap counts once).
//   - The last query word is matched as a prefix (search as you type) unless
//     the query ends with a separator.
//   - Split and concatenated words match: the query "daytripper" matches the
//     words "day tripper" and the query "day tripper" matches "daytripper".
//     Two query words written together have one typo less than a word of
//     their joined length (PairTypoBudget, Meilisearch's rule for 2-grams).
//   - Ranking, in order: number of query words matched, typos, proximity,
//     attribute (title > artist > album > other), exactness, popularity.
//
// Everything here is pure: no I/O, no clock, no global mutable state besides
// a concurrency-safe cache of folded runes.
package search
