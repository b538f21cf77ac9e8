// Package repo is the local document repository: Automerge documents
// (package sync/docs) persisted incrementally in a store.Store, with
// per-peer sync state for the wire protocol and change subscriptions.
//
// Storage (docs/ARCHITECTURE.md §5): doc/<id>/snap holds a full save,
// doc/<id>/inc/<u64 seq> one increment per persisted change batch (its
// change chunks framed with their length and a CRC-32C that covers the
// key too, frame.go; the snapshot likewise), written
// in the same store Update as its effects (a received message's sync state
// included); loading applies the snapshot, then the increments in order.
// Past a bound (default 64 increments weighing a quarter of the
// snapshot, or 1 MiB) a new snapshot replaces
// the increments in one Update. sync/<peer>/<id> holds the sync state with
// a persistent peer.
//
// Writes go through one group commit: every write queued while the
// previous batch commits is committed in one store Update, and each
// caller returns only once its write is durable (the document's lock is
// not held meanwhile). A creation (Incoming.Create) is committed in an
// Update of its own with the document's lock held, so a refused creation
// stores nothing and fails no other write. At most WithLoadedDocs
// documents stay loaded; the others reload on use. automerge-go frees C
// memory only in finalizers, so the repo runs a Go collection after every
// WithCollectBudget bytes of automerge work.
//
// Every load gets a fresh random actor id, so a change lost to a crash
// before it was persisted can never be re-issued with the same actor and
// sequence number.
//
//	r, _ := repo.Open(ctx, st, repo.DefaultOptions())
//	h, _ := r.CreatePlaylist(ctx, "alice", "Road trip")
//	_ = h.Playlist(ctx, func(p *docs.Playlist) error {
//		_, err := p.Add(docs.AtEnd(), "alice", "trk1")
//		return err
//	})
//	events, cancel := r.Subscribe(h.ID())
//
// The protocol layer drives sync per (peer, document) with
// GenerateSyncMessage and ReceiveSyncMessage, calls PeerDisconnected when
// a connection ends, and may install a WriteCheck to refuse changes from
// peers without write access.
package repo
