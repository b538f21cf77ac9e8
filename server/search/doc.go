// Package search is the relay's catalog search: an index of tracks,
// albums, artists and playlists whose candidates come from a vellum FST
// term dictionary (typo candidates from vellum's Levenshtein automata) and
// whose final ranking is core/search's, so the relay and the device rank
// alike.
//
// The index keeps its entries in a store.Store (persisted, updated entry
// by entry) and its term dictionary in memory: postings in a map, the
// terms in an FST rebuilt when more than a bounded number of new terms
// have arrived since the last build (new terms are searched linearly until
// then). Opening an index rebuilds the dictionary from the stored entries.
package search
