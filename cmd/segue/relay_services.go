package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/server/web"
)

// serviceConfig is what mountServices takes from `segue relay`'s flags
// and the objects runRelay made before it.
type serviceConfig struct {
	admin       string // --admin-token
	publicURL   string // --public-url
	recsFactors string // --recs-factors
	recsPacing  float64
	retention   time.Duration // --event-retention
	devicePlays int           // --device-plays-per-day
	licEntries  int           // --license-entries-per-day
	access      access.Writer // where licenses issued are recorded
	events      events.Log    // the play-event log
	log         *slog.Logger
}

// relayServices are the mounted services runRelay runs and stops around
// serving.
type relayServices struct {
	search   *search.Service
	counts   *counting.Service // its consumer is not running yet (Run)
	stopRecs func()            // stops the recommendation scheduler; may be called more than once
}

// mountServices adds to srv, before it serves, every service `segue
// relay` serves beyond the relay's own routes: the web player at /,
// licenses, search, admin ingest, play counting, recommendations (their
// scheduler started) and social (its follow graph loaded). It is the one
// place they are assembled, so the tests of the assembled routes
// (TestRelayRoutes) see what the command serves. On error the
// recommendation scheduler is stopped; the caller closes srv.
func mountServices(ctx context.Context, dd *catalog.DataDir, srv *relay.Server, cfg serviceConfig) (relayServices, error) {
	web.Mount(srv.Echo()) // the web player at / (server/web)
	licOpts := license.DefaultOptions().WithAdminToken(cfg.admin).WithLogger(cfg.log).WithAccessWriter(cfg.access).
		WithDeviceEntriesPerDay(cfg.licEntries)
	license.NewForDataDir(dd, licOpts).Mount(srv)
	ss, err := search.MountForDataDir(ctx, dd, srv)
	if err != nil {
		return relayServices{}, err
	}
	tmp, err := dd.TempDir()
	if err != nil {
		return relayServices{}, err
	}
	srv.MountIngest(relay.DefaultIngestOptions().WithPublished(ss.Published).WithTempDir(tmp))
	chain := audit.NewChain(dd.Store, dd.Signer, audit.DefaultCheckpointEvery, nil)
	counts := counting.New(dd.Store, cfg.events, dd.Catalog, chain, counting.DefaultOptions().WithAdminToken(cfg.admin).WithLogger(cfg.log).
		WithRetention(cfg.retention).WithOfflineWindow(licOpts.OfflineWindow()).
		WithDeviceQuota(cfg.devicePlays, 24*time.Hour))
	counts.Mount(srv)
	stopRecs := mountRecs(ctx, dd, srv, cfg.recsFactors, cfg.recsPacing, cfg.log)
	soc := social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(cfg.log).WithPublicURL(cfg.publicURL))
	if err := soc.LoadGraph(ctx); err != nil {
		stopRecs()
		return relayServices{}, err
	}
	soc.Mount(srv)
	return relayServices{search: ss, counts: counts, stopRecs: stopRecs}, nil
}
