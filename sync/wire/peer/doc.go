// Package peer runs the document part of the automerge-repo protocol
// over any message connection (Conn): the handshake (ServerHandshake,
// ClientHandshake), a Session per remote peer that answers sync and
// request messages, enforces an Authorizer, and pushes local changes;
// StoreRepo keeps documents and per-peer sync states in a store.Store.
//
// The relay endpoint (sync/relaysync), the device client (sync/client)
// and LAN sync share it, so all three speak exactly the same protocol.
//
// StoreRepo is an interim, self-contained repository (keys sync/doc/<id>
// and sync/state/<storage id>/<id>); it is meant to be replaced by, or
// adapted to, the sync/repo package once that lands.
package peer
