package social

import (
	"log/slog"
	"time"
)

// Options configures a Service. Start from DefaultOptions and refine with
// the WithX methods; each returns a modified copy.
type Options struct {
	now           func() time.Time
	logger        *slog.Logger
	publicURL     string
	maxFollowing  int
	maxBlocks     int
	maxBody       int64
	streams       int
	userStreams   int
	streamBuffer  int
	streamFlush   time.Duration
	slowConsumer  time.Duration
	keepAlive     time.Duration
	shareRate     time.Duration
	shareBurst    int
	activityRate  time.Duration
	activityBurst int
	inviteTTL     time.Duration
	limiterUsers  int
	preview       time.Duration
	previewRate   time.Duration
	previewBurst  int
	previewJobs   int
	friendIndex   int
}

// DefaultOptions returns the defaults: the relay's clock under NewForRelay
// (time.Now under New) and slog.Default(); share
// links built from the request's scheme and host (set WithPublicURL in
// production); at most 5,000 follows and 10,000 blocks per user; 64 KiB
// request bodies; at most 50,000 activity streams open, 8 per user (SSE
// streams and sync-connection subscriptions alike), 64 events queued per
// stream (the oldest dropped beyond), a sync connection closed when one
// write of activity stays blocked 10 s, each event
// written at once (WithStreamFlush 0), a keep-alive
// comment every 25 s; share creation at 1 per 6 s per user with a burst
// of 20; activity posts at 1 per 500 ms per user with a burst of 10;
// collaborator invites valid 7 days at most; rate limiters tracking at
// most 100,000 users (least recently seen evicted); anonymous previews of
// 30 s per track, at 1 request per 2 s per client address with a burst of
// 30, at most 4 cut at once; an in-memory friends index of at most
// 10,000,000 follow edges.
func DefaultOptions() Options {
	return Options{
		logger:        slog.Default(),
		maxFollowing:  5000,
		maxBlocks:     10000,
		maxBody:       64 << 10,
		streams:       50000,
		userStreams:   8,
		streamBuffer:  64,
		slowConsumer:  10 * time.Second,
		keepAlive:     25 * time.Second,
		shareRate:     6 * time.Second,
		shareBurst:    20,
		activityRate:  500 * time.Millisecond,
		activityBurst: 10,
		inviteTTL:     7 * 24 * time.Hour,
		limiterUsers:  100000,
		preview:       30 * time.Second,
		previewRate:   2 * time.Second,
		previewBurst:  30,
		previewJobs:   4,
		friendIndex:   10_000_000,
	}
}

// WithClock sets the clock: share expiry, rate limits, activity times and
// release embargoes (catalog.ContentKeyAt) are read from it. The default
// is the relay's clock under NewForRelay (relay.Server.Now), so previews
// and cards open at the instant stream keys do, and time.Now under New;
// nil keeps the current one.
func (o Options) WithClock(now func() time.Time) Options {
	if now != nil {
		o.now = now
	}
	return o
}

// WithLogger sets the logger (default slog.Default()); nil keeps it.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithPublicURL sets the base URL share links are built on and share
// pages name in their meta tags (e.g. "https://segue.example"). Empty
// (the default) uses the scheme and Host of the request, which a client
// controls: set it whenever the relay is reachable under a known name.
func (o Options) WithPublicURL(u string) Options { o.publicURL = u; return o }

// WithMaxFollowing sets how many users one user may follow (default
// 5,000; at least 1).
func (o Options) WithMaxFollowing(n int) Options { o.maxFollowing = max(n, 1); return o }

// WithMaxBlocks sets how many users one user may block (default 10,000;
// at least 1).
func (o Options) WithMaxBlocks(n int) Options { o.maxBlocks = max(n, 1); return o }

// WithStreams sets how many activity streams may be open at once in all
// and per user (defaults 50,000 and 8; at least 1 each); more get 503
// and 429. Under a relay, SSE streams over HTTP/1.x also take one of the
// relay's long-lived connections each (relay.Server.LongLivedConns,
// shared with sync sessions), which bounds them well below 50,000 by
// default (12,288 with the sync sessions).
func (o Options) WithStreams(total, perUser int) Options {
	o.streams, o.userStreams = max(total, 1), max(perUser, 1)
	return o
}

// WithStreamQueue sets how many events wait per activity stream or sync
// connection before the oldest is dropped (default 64; at least 1), and
// how long one write of activity to a sync connection, or of events or a
// keep-alive to an activity stream (its write deadline), may stay
// blocked before the relay closes it as a slow consumer (default 10 s;
// at least 10 ms).
func (o Options) WithStreamQueue(events int, slowConsumer time.Duration) Options {
	o.streamBuffer, o.slowConsumer = max(events, 1), max(slowConsumer, 10*time.Millisecond)
	return o
}

// WithKeepAlive sets how often an idle activity stream gets an SSE
// comment line (default 25 s; at least 1 s).
func (o Options) WithKeepAlive(d time.Duration) Options { o.keepAlive = max(d, time.Second); return o }

// WithShareRate sets the share-creation limit per user: one token every
// every, up to burst at once (defaults 6 s and 20).
func (o Options) WithShareRate(every time.Duration, burst int) Options {
	o.shareRate, o.shareBurst = max(every, time.Millisecond), max(burst, 1)
	return o
}

// WithActivityRate sets the activity-post limit per user (defaults one
// every 500 ms, burst 10).
func (o Options) WithActivityRate(every time.Duration, burst int) Options {
	o.activityRate, o.activityBurst = max(every, time.Millisecond), max(burst, 1)
	return o
}

// WithInviteTTL sets the longest (and default) lifetime of a
// collaborator invite link (default 7 days; at least 1 minute).
func (o Options) WithInviteTTL(d time.Duration) Options { o.inviteTTL = max(d, time.Minute); return o }

// WithPreview sets how much of each track a share link plays to a
// visitor without an account (default 30 s; at least 1 s, at most 10 min).
func (o Options) WithPreview(d time.Duration) Options {
	o.preview = min(max(d, time.Second), 10*time.Minute)
	return o
}

// WithPreviewRate sets the limit on anonymous preview requests (the
// track list and each track's audio) per client address: one every
// every, up to burst at once, and at most jobs previews cut at once in
// all (more get 503); defaults 2 s, 30 and 4.
func (o Options) WithPreviewRate(every time.Duration, burst, jobs int) Options {
	o.previewRate, o.previewBurst, o.previewJobs = max(every, time.Millisecond), max(burst, 1), max(jobs, 1)
	return o
}

// WithStreamFlush sets how often activity streams with pending events
// are written and flushed (default 0: each event at once; at most 1 s).
// A period d gathers a stream's events of d into one write and wakes the
// writers of all streams together, adding at most d to the fan-out
// latency. At the benchmark's rate (one event per stream per ~4 s) it
// saved no measurable CPU (docs/BENCHMARKS.md "Social"): Go's HTTP/2
// server still writes and flushes each stream's frame separately.
func (o Options) WithStreamFlush(d time.Duration) Options {
	o.streamFlush = min(max(d, 0), time.Second)
	return o
}

// WithFriendIndex bounds the in-memory friends index that publications
// find the publisher's friends in (default 10,000,000 follow edges, about
// 32 bytes each in memory; at least 0). A follow graph larger than that
// turns the index off until the relay restarts: friends are then read
// from the store, two prefix scans per publication.
func (o Options) WithFriendIndex(maxEdges int) Options { o.friendIndex = max(maxEdges, 0); return o }
