// Package relaysync is the relay's automerge-repo WebSocket endpoint
// (GET /v1/sync): stock automerge-repo clients and Segue devices join,
// sync documents that are persisted with per-peer sync states in the
// relay's store, and exchange ephemeral messages.
//
// Mount it in the Echo relay (the device token arrives as ?token=):
//
//	r, _ := repo.Open(ctx, st, repo.DefaultOptions())
//	ep := relaysync.New(peer.NewRepoAdapter(r), st, peer.DocumentAccess,
//		relaysync.DefaultOptions().WithAuthenticator(tokenToUser))
//	e.GET("/v1/sync", ep.Handle)
//
// Authorisation (peer.DocumentAccess): a library document is readable and
// writable only by its owner's devices; a playlist is readable by owner,
// collaborators, or anyone when public, writable only by owner and
// collaborators. A reader's message that would change a document is
// refused with an error message and the connection is closed; the change
// is neither stored nor forwarded. A request for a document the user may
// not read is answered with doc-unavailable. Limits (frame size, message
// rate per connection on an injected clock, documents created per user)
// are answered with an error message naming the limit before closing.
// Ephemeral messages are de-duplicated by (sender, session, count) in a
// table bounded in time and size (WithEphemeralDedup).
package relaysync
