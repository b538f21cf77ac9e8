package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/relay"
)

// mountRecs mounts the recommendation routes on srv and starts their
// scheduler (Discover Weekly, Daily Mixes, Release Radar from the counted
// plays); the returned function stops it and waits. Without the sync
// endpoint (srv.Docs() nil) there is nowhere to deliver playlists and
// nothing is mounted. stop may be called more than once.
func mountRecs(ctx context.Context, dd *catalog.DataDir, srv *relay.Server, log *slog.Logger) (stop func()) {
	if srv.Docs() == nil {
		log.Warn("recommendations disabled: the sync endpoint is not mounted")
		return func() {}
	}
	svc := relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), relayrecs.CountedPlays(dd.Store), relayrecs.DefaultOptions().WithLogger(log))
	svc.Mount(srv)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = svc.Run(ctx)
	}()
	var once sync.Once
	return func() { once.Do(func() { cancel(); <-done }) }
}
