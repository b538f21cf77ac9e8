package counting

import (
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/license"
)

// Options configures a Service. Start from DefaultOptions and refine with
// the WithX methods; each returns a modified copy.
type Options struct {
	threshold  time.Duration
	maxEvents  int
	maxBody    int64
	skew       time.Duration
	offline    time.Duration
	batch      int
	poll       time.Duration
	adminToken string
	retention  time.Duration
	quota      int
	quotaPer   time.Duration
	now        func() time.Time
	mono       func() time.Duration
	logger     *slog.Logger
}

// DefaultOptions returns the defaults: a play counts as a stream from 30
// seconds played (model.StreamThreshold), at most 1,000 events and 1 MiB
// per upload, 5 minutes of allowed clock skew for timestamps, plays at
// most the default license offline window old (license.DefaultValidity +
// license.DefaultGrace, 32 days), the consumer committing up to 5,000
// events per transaction and polling the log every 200 ms, no admin token
// (admin routes refused), time.Now, the monotonic clock and
// slog.Default().
func DefaultOptions() Options {
	start := time.Now()
	return Options{
		mono:      func() time.Duration { return time.Since(start) },
		threshold: 30 * time.Second,
		maxEvents: 1000,
		maxBody:   1 << 20,
		skew:      5 * time.Minute,
		offline:   license.DefaultValidity + license.DefaultGrace,
		batch:     5000,
		poll:      200 * time.Millisecond,
		now:       time.Now,
		logger:    slog.Default(),
	}
}

// WithThreshold sets the played time from which a play is one stream
// (default 30 s). Non-positive values keep the current one.
func (o Options) WithThreshold(d time.Duration) Options {
	if d > 0 {
		o.threshold = d
	}
	return o
}

// WithMaxEvents sets the most events one upload may carry (default
// 1,000); a larger batch is refused whole with 413. Values below 1 keep
// the current one.
func (o Options) WithMaxEvents(n int) Options {
	if n > 0 {
		o.maxEvents = n
	}
	return o
}

// WithMaxBody sets the largest upload body accepted (default 1 MiB).
// Values below 1 keep the current one.
func (o Options) WithMaxBody(n int64) Options {
	if n > 0 {
		o.maxBody = n
	}
	return o
}

// WithSkew sets how far in the relay's future a play may start or end
// before it is rejected as future_timestamp (default 5 minutes).
// Negative values become 0.
func (o Options) WithSkew(d time.Duration) Options { o.skew = max(d, 0); return o }

// WithOfflineWindow sets how long a device can play offline before it
// must reach the relay: the license server's validity plus grace
// (license.Options.OfflineWindow; default license.DefaultValidity +
// license.DefaultGrace). A play that started more than d plus the allowed
// skew before the relay's clock is refused as too_old: no device could
// still be holding it. Non-positive values keep the current one.
func (o Options) WithOfflineWindow(d time.Duration) Options {
	if d > 0 {
		o.offline = d
	}
	return o
}

// WithConsumerBatch sets how many log entries the consumer counts per
// transaction (default 5,000; the log reads at most 10,000 at a time).
// Larger transactions write each touched count key once for more events;
// one the store refuses as too big is counted in halves. Values below 1
// keep the current one.
func (o Options) WithConsumerBatch(n int) Options {
	if n > 0 {
		o.batch = n
	}
	return o
}

// WithPoll sets how long the consumer waits when it has caught up with
// the log (default 200 ms). Non-positive values keep the current one.
func (o Options) WithPoll(d time.Duration) Options {
	if d > 0 {
		o.poll = d
	}
	return o
}

// WithAdminToken sets the bearer token of GET /v1/admin/counts (default
// empty: refused). One relay.CheckAdminToken refuses is logged and
// refuses every request too (relay.Server.AdminGate).
func (o Options) WithAdminToken(tok string) Options { o.adminToken = tok; return o }

// WithClock sets the relay clock for received times, the time bounds of
// uploaded plays and the expiry of the overlap state (default time.Now;
// nil keeps it).
func (o Options) WithClock(now func() time.Time) Options {
	if now != nil {
		o.now = now
	}
	return o
}

// WithLogger sets the logger (default slog.Default(); nil discards).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// MaxDeviceQuota bounds WithDeviceQuota's events (the bucket's size).
const MaxDeviceQuota = 10_000_000

// WithDeviceQuota limits how many play events one device may upload: a
// bucket of n events per device, refilled at n per `per`, each upload
// taking all its events (accepted, duplicate or rejected) or, when the
// bucket holds fewer, refused whole with 429 and a Retry-After (the
// device keeps the plays queued). The bucket holds at least one full
// batch (WithMaxEvents) and at most MaxDeviceQuota; n 0 or per under a
// millisecond turns the limit off (the default). The buckets are in
// memory, per relay, at most 2²⁰ devices (an evicted device starts full
// again).
func (o Options) WithDeviceQuota(n int, per time.Duration) Options {
	if n <= 0 || per < time.Millisecond {
		o.quota, o.quotaPer = 0, 0
		return o
	}
	o.quota, o.quotaPer = min(n, MaxDeviceQuota), per
	return o
}

// WithMonotonicClock sets the clock the device quotas
// (WithDeviceQuota) run on: the time elapsed since a fixed start, which
// only moves forward (default: the monotonic time since DefaultOptions
// was called). The relay's wall clock (WithClock) can be set back or
// forward while the relay runs (NTP stepping it, an operator); a quota
// run on it would refuse a device's uploads for as long, or give it as
// much of its quota again. Tests pass a fake clock; nil keeps the
// current one.
func (o Options) WithMonotonicClock(mono func() time.Duration) Options {
	if mono != nil {
		o.mono = mono
	}
	return o
}

// WithRetention makes the consumer delete raw play events (entries and
// their signed batches) received more than d ago, once they are counted,
// at most once an hour while it runs (default 0: keep them forever). The
// counts, the audit log and the (device, seq) index stay, so a late retry
// of a pruned event is still a duplicate. Reconciliation and statements
// traced to a device's claim need the raw events: keep d above the
// reconciliation and dispute horizon. Only logs implementing
// events.Pruner (the Badger StoreLog) prune; others keep everything.
func (o Options) WithRetention(d time.Duration) Options { o.retention = max(d, 0); return o }
