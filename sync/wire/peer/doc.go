// Package peer runs the document part of the automerge-repo protocol
// over any message connection (Conn): the handshake (ServerHandshake,
// ClientHandshake), and a Session per remote peer that answers sync and
// request messages, enforces an Authorizer, and pushes local changes.
// Documents and per-peer sync states live in a Repo; RepoAdapter serves
// a sync/repo.Repo (snapshot + increments in a store.Store).
//
// The relay endpoint (sync/relaysync), the device client (sync/client)
// and LAN sync (sync/p2p) share it, so all three speak exactly the same
// protocol:
//
//	r, _ := repo.Open(ctx, st, repo.DefaultOptions())
//	s := &peer.Session{Repo: peer.NewRepoAdapter(r), Authz: peer.PlaylistAccess,
//		User: user, LocalID: me, RemoteID: join.SenderID,
//		RemoteStorage: join.PeerMetadata.StorageID, Conn: conn}
//	err := s.Run(ctx)
//
// A server with many sessions over one Repo (the relay) gives them one
// Fanout (Session.Fanout = peer.NewFanout(repo)): a change then wakes
// only the sessions following that document instead of every session.
package peer
