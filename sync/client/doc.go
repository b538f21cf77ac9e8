// Package client is the device side of sync: it keeps a device's
// documents (a peer.RepoAdapter over the device's sync/repo.Repo) in sync
// with the relay over the automerge-repo WebSocket protocol.
//
//	c := client.New(repo, client.WebSocket{URL: "wss://relay/v1/sync", Token: tok, Compression: true},
//		client.DefaultOptions().WithIdentity(deviceID, deviceID))
//	go c.Run(ctx)        // reconnects with seeded, jittered exponential backoff
//	c.Want(sharedID)     // fetch a playlist someone shared by URL
//	_ = c.SyncNow(ctx)   // offer every local document now
//	st := c.Status()     // connected, last sync, attempts, last error
//
// Sync states are persisted per (remote storage id, document), so a
// reconnect resumes where the last session stopped whether that was a
// minute or a month ago.
package client
