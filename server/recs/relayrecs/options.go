package relayrecs

import (
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/internal/ctxsleep"
	"github.com/segue-fm/segue/server/recs"
	"github.com/segue-fm/segue/server/recs/sparkals"
)

// Options configure a Service. Start from DefaultOptions.
type Options struct {
	now      func() time.Time
	tick     time.Duration
	pace     float64
	sleep    func(ctx context.Context, d time.Duration) error
	rand     io.Reader
	log      *slog.Logger
	history  int
	als      recs.Options
	discover recs.DiscoverOptions
	mixes    recs.MixOptions
	radar    recs.RadarOptions

	factorsDir   string
	factorLimits sparkals.Limits
}

// DefaultOptions returns: the wall clock, a scheduler tick of one
// minute, scheduled runs paced to a quarter of the time (WithPacing),
// waiting on timers, crypto/rand for document ids, slog.Default, 12 months of
// counted plays, ALS with 32 factors and 10 iterations on 2 workers
// (recs.DefaultOptions otherwise), and recs' default Discover Weekly,
// Daily Mix and Release Radar options; factors trained in process (no
// Spark factor directory).
func DefaultOptions() Options {
	return Options{
		now: time.Now, tick: time.Minute, pace: DefaultPacing, sleep: ctxsleep.Sleep, rand: rand.Reader, log: slog.Default(), history: 12,
		als:      recs.DefaultOptions().WithFactors(32).WithIterations(10).WithWorkers(2),
		discover: recs.DefaultDiscoverOptions(), mixes: recs.DefaultMixOptions(), radar: recs.DefaultRadarOptions(),
		factorLimits: sparkals.DefaultLimits(),
	}
}

// WithClock sets the clock every schedule decision reads. Default time.Now.
func (o Options) WithClock(now func() time.Time) Options { o.now = now; return o }

// WithTick sets how often Run checks what is due. Default one minute.
func (o Options) WithTick(d time.Duration) Options { o.tick = d; return o }

// DefaultPacing is the share of the time a scheduled run may take by
// default (WithPacing).
const DefaultPacing = 0.25

// WithPacing sets the share of the wall time, in (0, 1], that Run's
// scheduled runs take: after delivering to a listener, a run waits
// (1 − share) / share times as long as that took (waits under 10 ms add
// up first, one wait is at most a minute), so a burst of deliveries —
// the first run after many listeners signed up, a new week for all of
// them — leaves the relay's cores to its interactive work (sync, HTTP)
// instead of taking them for seconds. 1 never waits. RunDue and RunWeek
// (an operator's runs) are not paced, and they (like a first request
// that trains the model) go ahead while a paced run waits; the paced
// run then finds what they delivered done. Values outside (0, 1] keep
// the default, DefaultPacing (a run takes about 4 × its work in time).
func (o Options) WithPacing(share float64) Options {
	if share > 0 && share <= 1 {
		o.pace = share
	}
	return o
}

// WithSleep sets how a paced run waits: sleep returns after d, or
// ctx.Err() as soon as ctx ends. Default (and nil): a timer.
func (o Options) WithSleep(sleep func(ctx context.Context, d time.Duration) error) Options {
	if sleep == nil {
		sleep = ctxsleep.Sleep
	}
	o.sleep = sleep
	return o
}

// WithRand sets the source of new document ids. Default crypto/rand.
func (o Options) WithRand(r io.Reader) Options { o.rand = r; return o }

// WithLogger sets the logger. Default slog.Default().
func (o Options) WithLogger(l *slog.Logger) Options { o.log = l; return o }

// WithHistoryMonths sets how many calendar months of counted plays
// (including the current one) training reads. Default 12.
func (o Options) WithHistoryMonths(n int) Options { o.history = n; return o }

// WithALS sets the ALS options. Default: 32 factors, 10 iterations, 2
// workers.
func (o Options) WithALS(a recs.Options) Options { o.als = a; return o }

// WithDiscover sets the Discover Weekly options.
func (o Options) WithDiscover(d recs.DiscoverOptions) Options { o.discover = d; return o }

// WithMixes sets the Daily Mix options.
func (o Options) WithMixes(m recs.MixOptions) Options { o.mixes = m; return o }

// WithRadar sets the Release Radar options.
func (o Options) WithRadar(r recs.RadarOptions) Options { o.radar = r; return o }

// WithSparkFactors makes every run load the factors of an external
// trainer from dir (package sparkals: Spark MLlib ALS's user and item
// factors as Parquet, with a manifest) instead of training ALS in process,
// checked against lim. The directory is read afresh at each run, so a
// new Spark run is picked up by replacing it; a run whose directory is
// missing or malformed fails and the previous playlists stay. Plays are
// still read from the PlaySource (what a listener has played, popularity
// and new releases). Default: none, ALS in process.
func (o Options) WithSparkFactors(dir string, lim sparkals.Limits) Options {
	o.factorsDir, o.factorLimits = dir, lim
	return o
}
