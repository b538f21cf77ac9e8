// Package searchindex is Segue's persisted search index, shared by the
// relay's catalog search (server/search) and the device's offline search
// (core.Engine.Search): an index of tracks, albums, artists and playlists
// whose candidates come from a vellum FST term dictionary (typo candidates
// from vellum's Levenshtein automata) and whose final ranking is
// core/search's, so the relay and the device match and rank alike.
//
// The index keeps its entries in a store.Store (search/entry/<kind>:<id>,
// persisted, updated entry by entry) and its term dictionary in memory:
// postings in a map, the terms in an FST rebuilt when more than a bounded
// number of new terms have arrived since the last build (new terms are
// searched linearly until then). Opening an index rebuilds the dictionary
// from the stored entries.
package searchindex
