// Package docs is Segue's document model (DESIGN §5): the user's library
// and playlists as Automerge documents, read and changed through typed
// views, plus automerge-repo document ids.
//
// A Playlist or Library wraps an *automerge.Doc. Each mutating method is
// one user action and makes exactly one commit, with a message and a
// timestamp from the injected clock (Options.WithClock); entry ids and
// fractional positions draw from the injected random source
// (Options.WithRand), so simulations are reproducible. Playlist entries
// are a map entryId → {trackId, pos, addedBy, addedAt} ordered by the
// fractional index pos (package fracindex), ties broken by entry id: a
// move rewrites only pos, so concurrent moves cannot duplicate an entry
// and a concurrent delete wins.
//
// Typical use (sync/repo does the persistence and locking):
//
//	doc := automerge.New()
//	p, err := docs.CreatePlaylist(doc, "alice", "Road trip", docs.DefaultOptions())
//	ids, err := p.Add(docs.AtEnd(), "alice", "trk1", "trk2")
//	err = p.Move(ids[1], docs.AtStart())
//	entries, err := p.Entries()
//
// Document ids are 16 bytes shown as bs58check, with URLs
// "automerge:<id>", exactly as @automerge/automerge-repo writes them.
package docs
