package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/recs/sparkals"
	"github.com/segue-fm/segue/server/relay"
)

// mountRecs mounts the recommendation routes on srv and starts their
// scheduler (Discover Weekly, Daily Mixes, Release Radar from the counted
// plays); the returned function stops it and waits. Without the sync
// endpoint (srv.Docs() nil) there is nowhere to deliver playlists and
// nothing is mounted. stop may be called more than once. With a
// factorsDir (checked by checkRecsFactors) every run loads the Spark
// factors in it (relayrecs.Options.WithSparkFactors) instead of training
// in process. pacing is the scheduler's share of the time
// (relayrecs.Options.WithPacing).
func mountRecs(ctx context.Context, dd *catalog.DataDir, srv *relay.Server, factorsDir string, pacing float64, log *slog.Logger) (stop func()) {
	if srv.Docs() == nil {
		log.Warn("recommendations disabled: the sync endpoint is not mounted")
		return func() {}
	}
	opts := relayrecs.DefaultOptions().WithLogger(log).WithPacing(pacing)
	if factorsDir != "" {
		opts = opts.WithSparkFactors(factorsDir, sparkals.DefaultLimits())
		log.Info("recommendations from Spark factors", "dir", factorsDir)
	}
	svc := relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), relayrecs.CountedPlays(dd.Store), opts)
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

// checkRecsFactors checks -recs-factors: empty, or a directory. Its
// content is checked at every run (a malformed one fails that run and the
// previous playlists stay), since Spark replaces it between runs.
func checkRecsFactors(dir string) error {
	if dir == "" {
		return nil
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: -recs-factors %q: not a directory", errUsage, dir)
	}
	return nil
}
