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
// searched linearly until then). Opening an index reads the stored entries
// and rebuilds the dictionary from them, or, with a snapshot file
// (Options.WithSnapshot, the relay's), reuses the snapshot's postings of
// every entry stored as it was when the snapshot was written (matched by
// a digest of its key and value) and tokenises only the others.
//
// Postings are kept in ranking order (attribute, then popularity), so a
// one-word query over many postings stops reading a term once nothing
// further can reach its page; a longer one counts per slot, with bit
// sets, the words its lookups find and ranks only the slots found for the
// most words (Options.WithExactTotal: above it, totals are upper bounds).
package searchindex
