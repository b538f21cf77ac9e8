// Package relaysync is the relay's automerge-repo WebSocket endpoint
// (GET /v1/sync): stock automerge-repo clients and Segue devices join,
// sync documents that are persisted with per-peer sync states in the
// relay's store, and exchange ephemeral messages.
//
// Mount it in the Echo relay (the device token arrives as an
// Authorization bearer, or as ?token= from browsers):
//
//	r, _ := repo.Open(ctx, st, repo.DefaultOptions())
//	ep := relaysync.New(peer.NewRepoAdapter(r), st, peer.DocumentAccess,
//		relaysync.DefaultOptions().WithAuthenticator(tokenToUser))
//	e.GET("/v1/sync", ep.Handle)
//
// Authorisation (peer.DocumentAccess with the owner the relay recorded,
// see owners.go): a library document is readable and writable only by
// its owner's devices; a playlist is readable by owner, collaborators, or
// anyone when public, writable only by owner and collaborators, and its
// owner, collaborators and public fields change only by its owner. A
// document is owned by the user who first stored it, and must name that
// user as its owner. Every refusal (a read, write or creation refused, a
// per-user limit) is answered for that document only, with
// doc-unavailable or an error message naming it, and the session stays
// up; nothing of a refused change is stored or forwarded. Limits of the
// connection (frame size, message rate per connection on an injected
// clock) are answered with an error message naming the limit before
// closing.
// Ephemeral messages are de-duplicated by (sender, session, count) in a
// table bounded in time and size (WithEphemeralDedup).
package relaysync
