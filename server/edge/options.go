package edge

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/sendtime"
	"github.com/segue-fm/segue/server/access"
)

// Options configure an Edge. Start from DefaultOptions; the zero value has
// no parent and is refused by New.
type Options struct {
	parent         string
	memoryBytes    int64
	diskDir        string
	diskBytes      int64
	maxBlob        int64
	inFlight       int64
	inFlightClient int64
	inFlightWait   time.Duration
	sendGrace      time.Duration
	sendRate       int64
	authTTL        time.Duration
	authFailTTL    time.Duration
	checkEvery     time.Duration
	checkBurst     int
	originTimeout  time.Duration
	client         *http.Client
	logger         *slog.Logger
	now            func() time.Time

	access access.Writer

	pinBytes         int64
	pinWindow        time.Duration
	prepositionTiers []model.Tier
}

// Defaults of DefaultOptions.
const (
	DefaultMemoryBytes   = 256 << 20
	DefaultDiskBytes     = 10 << 30
	DefaultAuthTTL       = 30 * time.Second
	DefaultAuthFailTTL   = 2 * time.Second
	DefaultOriginTimeout = 30 * time.Second
	DefaultPinBytes      = 1 << 30
	DefaultPinWindow     = time.Hour
	DefaultInFlightBytes = 128 << 20
	DefaultInFlightWait  = 2 * time.Second
	// DefaultSendGrace and DefaultSendRate are WithSlowClient's defaults:
	// an answer of n bytes must be written within 30 s + n / 32 KiB/s.
	DefaultSendGrace = sendtime.DefaultGrace
	DefaultSendRate  = sendtime.DefaultRate
	// DefaultTokenCheckEvery and DefaultTokenCheckBurst are the default
	// rate of parent checks of unknown tokens per client address: 10 a
	// second, 20 at once.
	DefaultTokenCheckEvery = 100 * time.Millisecond
	DefaultTokenCheckBurst = 20
)

// DefaultOptions returns the defaults for an edge in front of parent (the
// relay's or a parent edge's base URL, such as "http://relay:8080"): 256 MiB
// of memory cache, no disk cache, blobs up to model.MaxBlobSize, 128 MiB of
// miss bodies in flight (a quarter of it per client address; a miss waits
// up to 2 s for room), answers
// written within 30 s plus their length at 32 KiB/s, token
// verdicts kept 30 s (refusals 2 s), unknown tokens checked 10 a second
// per client address (burst 20), parent fetches bounded by 30 s, an
// http.Client without a timeout of its own, logs discarded.
func DefaultOptions(parent string) Options {
	return Options{
		parent:        parent,
		memoryBytes:   DefaultMemoryBytes,
		diskBytes:     DefaultDiskBytes,
		maxBlob:       model.MaxBlobSize,
		inFlight:      DefaultInFlightBytes,
		inFlightWait:  DefaultInFlightWait,
		sendGrace:     DefaultSendGrace,
		sendRate:      DefaultSendRate,
		authTTL:       DefaultAuthTTL,
		authFailTTL:   DefaultAuthFailTTL,
		checkEvery:    DefaultTokenCheckEvery,
		checkBurst:    DefaultTokenCheckBurst,
		originTimeout: DefaultOriginTimeout,
		client:        &http.Client{},
		logger:        slog.New(slog.DiscardHandler),
		now:           time.Now,

		pinBytes:         DefaultPinBytes,
		pinWindow:        DefaultPinWindow,
		prepositionTiers: model.Tiers,
	}
}

// WithAccessWriter makes the edge record every header, chunk and blob it
// serves to a device as an access.Record (the one format the relay writes,
// server/access) in w, which it does not own (close it after the edge's
// server has stopped). Write only queues, so serving never waits for the
// disk. Default none.
func (o Options) WithAccessWriter(w access.Writer) Options { o.access = w; return o }

// WithPreposition configures pre-positioning (Edge.Preposition): pinned
// objects of upcoming releases take at most pinBytes of memory, outside
// the cache budget (default 1 GiB, DefaultPinBytes), stay pinned until
// their release time plus window (default an hour, DefaultPinWindow: the
// release storm), and tiers are the stream tiers fetched (default every
// tier, model.Tiers; none given keeps the current ones).
func (o Options) WithPreposition(pinBytes int64, window time.Duration, tiers ...model.Tier) Options {
	o.pinBytes, o.pinWindow = pinBytes, window
	if len(tiers) > 0 {
		o.prepositionTiers = append([]model.Tier(nil), tiers...)
	}
	return o
}

// WithParent sets the base URL misses are fetched from: the relay, or a
// mid-tier edge (default: DefaultOptions' argument).
func (o Options) WithParent(url string) Options { o.parent = url; return o }

// WithMemoryBytes sets the byte budget of the in-memory cache: the sum of
// the bodies held never exceeds it (default 256 MiB, DefaultMemoryBytes).
func (o Options) WithMemoryBytes(n int64) Options { o.memoryBytes = n; return o }

// WithDiskDir enables the disk cache in dir, which the edge owns: it
// creates it, keeps its objects there across restarts and deletes what it
// evicts (default "": no disk cache).
func (o Options) WithDiskDir(dir string) Options { o.diskDir = dir; return o }

// WithDiskBytes sets the byte budget of the disk cache: the sum of the
// object files never exceeds it (default 10 GiB, DefaultDiskBytes; it
// matters only with WithDiskDir).
func (o Options) WithDiskBytes(n int64) Options { o.diskBytes = n; return o }

// WithMaxBlobSize sets the largest body the edge fetches from its parent;
// a larger answer is a 502 (default model.MaxBlobSize, 16 MiB; at most
// 1 GiB).
func (o Options) WithMaxBlobSize(n int64) Options { o.maxBlob = n; return o }

// WithInFlightBytes bounds the bodies of misses the edge holds outside
// its caches: a fetch from the parent reserves its Content-Length from n
// before it reads a byte of the body, and holds it until every request
// that shared the fetch has written its answer. A fetch that finds too
// little room waits up to wait for it in all (its client's share,
// WithInFlightPerClient, and the budget together), then its requests are
// answered 503 with Retry-After (ErrBusy); wait 0 never waits. n must be
// at least the largest blob (WithMaxBlobSize). Default 128 MiB
// (DefaultInFlightBytes) and 2 s (DefaultInFlightWait).
func (o Options) WithInFlightBytes(n int64, wait time.Duration) Options {
	o.inFlight, o.inFlightWait = n, wait
	return o
}

// WithInFlightPerClient bounds the part of the in-flight budget
// (WithInFlightBytes) one client address (relay.ClientAddr) holds: a
// fetch is charged to the address of the request that started it, and a
// miss that would take its address past n waits (as for the budget) for
// the address's earlier fetches, then is answered 503 with Retry-After,
// so one client cannot take the budget from the others. The edge's own pre-positioning is not charged. n must be at
// least the largest blob and at most the budget. Default 0: a quarter of
// the budget, at least the largest blob.
func (o Options) WithInFlightPerClient(n int64) Options {
	o.inFlightClient = n
	return o
}

// WithSlowClient bounds how long writing one answer of n bytes may take:
// grace plus n at minRate bytes a second (the top stream tier is 40 KB/s,
// a chunk at most a few hundred KB). A client that reads slower is cut
// off, so it cannot hold a miss's body (and its in-flight bytes) or a
// connection for as long as it likes. Both must be > 0. Default 30 s and
// 32 KiB/s (DefaultSendGrace, DefaultSendRate).
func (o Options) WithSlowClient(grace time.Duration, minRate int64) Options {
	o.sendGrace, o.sendRate = grace, minRate
	return o
}

// WithAuthTTL sets how long the edge trusts the parent's verdict on a
// device token: an accepted token is not asked about again for ok, a
// refused one for fail (defaults 30 s and 2 s). A token the relay revokes
// therefore keeps reading encrypted blobs from the edge for at most ok.
func (o Options) WithAuthTTL(ok, fail time.Duration) Options {
	o.authTTL, o.authFailTTL = ok, fail
	return o
}

// WithTokenCheckRate limits how often one client address (the
// connection's IP, an IPv6 /64: relay.ClientAddr) makes the edge ask its
// parent about a token it has no verdict on and has never seen accepted:
// one check every every, up to burst at once. A request past it is
// answered 429 with Retry-After and costs the parent nothing. Renewals of
// accepted tokens whose verdict expired are not limited. Default one
// every 100 ms, burst 20 (DefaultTokenCheckEvery, DefaultTokenCheckBurst).
func (o Options) WithTokenCheckRate(every time.Duration, burst int) Options {
	o.checkEvery, o.checkBurst = every, burst
	return o
}

// WithOriginTimeout bounds one fetch from the parent, body included
// (default 30 s).
func (o Options) WithOriginTimeout(d time.Duration) Options { o.originTimeout = d; return o }

// WithHTTPClient sets the client used for the parent (default a plain
// &http.Client{}; nil means the same).
func (o Options) WithHTTPClient(c *http.Client) Options {
	if c == nil {
		c = &http.Client{}
	}
	o.client = c
	return o
}

// WithLogger sets the logger (default: logs discarded; nil means the same).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// WithClock sets the clock the token verdict cache, the position map and
// the pre-positioning windows read (default time.Now; nil means the same).
func (o Options) WithClock(now func() time.Time) Options {
	if now == nil {
		now = time.Now
	}
	o.now = now
	return o
}
