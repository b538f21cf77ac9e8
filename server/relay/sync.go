package relay

import (
	"context"
	"encoding/hex"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// mountSync serves GET /v1/sync, the automerge-repo WebSocket endpoint
// (sync/relaysync), over the relay's store: documents and sync states
// under the keys of docs/ARCHITECTURE.md §6, authorised with
// peer.DocumentAccess for the user of the calling device (the token may
// be given as ?token=, since browsers cannot set WebSocket headers).
func (s *Server) mountSync() error {
	ctx := context.Background()
	r, err := repo.Open(ctx, s.st, repo.DefaultOptions().WithLogger(s.log))
	if err != nil {
		return err
	}
	// Documents created before owners were recorded get their owner
	// from the relay's creation records (idempotent).
	n, err := relaysync.RecordOwners(ctx, s.st, s.log)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("relay: recorded owners of existing documents", "documents", n)
	}
	// A stable peer id (it is also the relay's storage id) lets devices
	// resume from their persisted sync states after a relay restart.
	ep := relaysync.New(peer.NewRepoAdapter(r), s.st, peer.DocumentAccess,
		relaysync.DefaultOptions().WithLogger(s.log).WithClock(s.now).
			WithPeerID("relay-"+hex.EncodeToString(s.catPub[:8])))
	s.v1.GET("/sync", func(c echo.Context) error {
		dev, _ := DeviceFrom(c)
		ep.ServeUser(c.Response(), c.Request(), dev.User)
		return nil
	})
	return nil
}
