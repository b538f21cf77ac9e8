package relay

import (
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// Options configures a Server. Build it with DefaultOptions and refine it
// with the WithX methods; each method returns a modified copy, so an
// Options value can be shared and derived from safely.
type Options struct {
	dataDir      string
	listen       string
	openSignup   bool
	adminToken   string
	maxBody      int64
	tokenTTL     time.Duration
	authCache    int
	argon        ArgonParams
	shutdownWait time.Duration
	idleTimeout  time.Duration
	headerWait   time.Duration
	bodyTimeout  time.Duration
	maxConns     int
	maxInFlight  int
	blobMemory   int64
	blobClient   int64
	blobWait     time.Duration
	sendGrace    time.Duration
	sendRate     int64
	signupRate   int
	hashMemory   int64
	hashQueue    int
	hashWait     time.Duration
	loginLimits  LoginLimits
	tlsCert      string
	tlsKey       string
	logger       *slog.Logger
	now          func() time.Time
	lanEpoch     time.Duration
	blobs        blobstore.Store // WithBlobs (blobs.go); nil: the data directory's Badger
	blobsID      string
	syncCMem     uint64
	syncLinger   time.Duration
	syncPace     time.Duration
	syncWindow   time.Duration
	syncLoaded   int
	syncSpill    bool
	syncRate     float64
	syncBurst    float64
	syncEphRate  float64
	syncEphBurst float64
	syncQuota    int64
	syncDocMax   int
	syncConns    int
	syncUserConn int
	syncAlive    time.Duration
	userTimeout  time.Duration
}

// ArgonParams are the Argon2id parameters used to hash new account
// passwords. They are stored with every hash, so changing them affects
// only passwords set afterwards.
type ArgonParams struct {
	Time    uint32 // passes over memory
	MemoryK uint32 // memory in KiB
	Threads uint8  // lanes
}

// DefaultArgonParams is the password hashing cost of a production relay:
// Argon2id with 1 pass over 64 MiB and 2 lanes (RFC 9106's second
// recommended option, scaled to a 2-core host).
var DefaultArgonParams = ArgonParams{Time: 1, MemoryK: 64 << 10, Threads: 2}

// FastArgonParams is a deliberately weak cost (1 pass over 1 MiB) for tests
// and demos, where many accounts are created per second. Never use it for
// a relay that holds real accounts.
var FastArgonParams = ArgonParams{Time: 1, MemoryK: 1 << 10, Threads: 1}

// DefaultOptions returns the options of a relay whose Badger store and keys
// live in dataDir: listen address 127.0.0.1:7474, open signup on, no admin
// token (so /metrics and admin-only signup are refused), request bodies
// limited to 64 KiB, device tokens valid for 90 days, DefaultArgonParams,
// 10 s graceful shutdown, idle connections kept 5 minutes, request
// headers within 10 s and bodies within 30 s, at most 16,384 connections,
// DefaultMaxInFlight requests in flight, DefaultBlobMemory of blob bodies
// being served (waiting at most DefaultBlobWait), each written within
// 30 s + its length at 32 KiB/s (WithSlowClient), sync connections as
// WithSyncSessions says, 128 MiB for password hashing with 64 checks waiting at most 10 s,
// DefaultLoginLimits, TCP_USER_TIMEOUT DefaultTCPUserTimeout on
// accepted connections (WithTCPUserTimeout), no TLS (HTTP/1.1 and
// cleartext HTTP/2 on the listener), slog.Default() and time.Now.
func DefaultOptions(dataDir string) Options {
	return Options{
		dataDir:      dataDir,
		listen:       "127.0.0.1:7474",
		openSignup:   true,
		maxBody:      64 << 10,
		tokenTTL:     90 * 24 * time.Hour,
		authCache:    100_000,
		argon:        DefaultArgonParams,
		shutdownWait: 10 * time.Second,
		idleTimeout:  5 * time.Minute,
		headerWait:   10 * time.Second,
		bodyTimeout:  30 * time.Second,
		maxConns:     16384,
		maxInFlight:  DefaultMaxInFlight,
		blobMemory:   DefaultBlobMemory,
		blobWait:     DefaultBlobWait,
		sendGrace:    DefaultSendGrace,
		sendRate:     DefaultSendRate,
		signupRate:   DefaultSignupsPerHour,
		hashMemory:   128 << 20,
		hashQueue:    64,
		hashWait:     10 * time.Second,
		loginLimits:  DefaultLoginLimits,
		syncCMem:     DefaultSyncCMemBudget,
		syncLinger:   repo.DefaultCommitLinger,
		syncPace:     relaysync.DefaultPace,
		syncWindow:   relaysync.DefaultWindow,
		syncLoaded:   DefaultSyncLoadedDocs,
		syncSpill:    true,
		syncRate:     relaysync.DefaultRate,
		syncBurst:    relaysync.DefaultBurst,
		syncEphRate:  relaysync.DefaultEphemeralRate,
		syncEphBurst: relaysync.DefaultEphemeralBurst,
		syncQuota:    relaysync.DefaultUserQuota,
		syncDocMax:   DefaultSyncDocMax,
		syncConns:    relaysync.DefaultMaxSessions,
		syncUserConn: relaysync.DefaultMaxUserSessions,
		syncAlive:    relaysync.DefaultKeepalive,
		userTimeout:  DefaultTCPUserTimeout,
		logger:       slog.Default(),
		now:          time.Now,
		lanEpoch:     DefaultLANKeyEpoch,
	}
}

// DefaultLANKeyEpoch is how long a LAN key lasts by default
// (WithLANKeyEpoch): as long as a device certificate is accepted on the
// LAN (p2p.DefaultCertMaxAge), so a device that meets its peers with
// keys that old would be refused for its certificate anyway.
const DefaultLANKeyEpoch = 30 * 24 * time.Hour

// MinLANKeyEpoch is the shortest epoch WithLANKeyEpoch takes.
const MinLANKeyEpoch = time.Minute

// WithLANKeyEpoch sets how long a LAN key lasts (POST
// /v1/devices/lan-keys): the keys of a pair of accounts are derived per
// epoch of d, counted from the Unix epoch by the relay's clock, and the
// relay gives the current and the previous one, so a key that leaked is
// good for two epochs at most, and devices that fetched their keys one
// epoch apart still share one. d < MinLANKeyEpoch keeps the default.
// Devices ask for their keys every hour by default
// (core.WithLANKeyRefresh): an epoch much shorter leaves devices that
// refreshed at different times without a key in common. Default
// DefaultLANKeyEpoch.
func (o Options) WithLANKeyEpoch(d time.Duration) Options {
	if d >= MinLANKeyEpoch {
		o.lanEpoch = d
	}
	return o
}

// DefaultSyncCMemBudget is the C heap the relay's loaded sync documents
// may hold by default (WithSyncCMemBudget): 0, no bound beyond the count
// of loaded documents. automerge keeps every change of a loaded document
// in memory (≈1.8 KB per change, ≈3.2–3.6 KB per playlist entry added,
// collaborative or not), so the relay's C heap grows with the history of the documents
// it syncs (docs/BENCHMARKS.md, "Sync: relay RSS under edits"). A budget
// bounds it, but below the working set hot documents unload and reload:
// on the quiet machine a 256 MiB default made synccap's scenario (a) cost
// ≈9 × the relay CPU per delivered change once reached, and the
// 100,000-document follow burst of scenario (d) take minutes instead of
// about one (656,829 unloads). Operators who know their working set set
// it (segue relay --sync-cmem-mib).
const DefaultSyncCMemBudget = 0

// WithSyncCMemBudget bounds the C heap in use (automerge's documents,
// counted by glibc for the whole process) past which the sync
// repository unloads its least recently used documents that no write or
// sync exchange is using (repo.WithCMemBudget); 0 turns the bound off,
// leaving only the count of loaded documents. A smaller budget trades
// memory for reloads from the store. Default DefaultSyncCMemBudget.
func (o Options) WithSyncCMemBudget(n uint64) Options { o.syncCMem = n; return o }

// MaxSyncCommitLinger bounds WithSyncCommitLinger: a write's
// acknowledgement may wait that long for others to share its commit, a
// fifth of the 50 ms the relay's edit acknowledgements aim at (p99).
const MaxSyncCommitLinger = 10 * time.Millisecond

// WithSyncCommitLinger sets how long a group commit of the sync
// repository under load waits for more writes to share its fsync
// (repo.WithCommitLinger; 0 off), clamped to 0…MaxSyncCommitLinger.
// Default repo.DefaultCommitLinger, 2 ms.
func (o Options) WithSyncCommitLinger(d time.Duration) Options {
	o.syncLinger = min(max(d, 0), MaxSyncCommitLinger)
	return o
}

// MaxSyncPace bounds WithSyncPace: a change held for a follower's
// answer reaches it at most that much later, half the 100 ms the relay's
// deliveries to collaborators aim at (p99).
const MaxSyncPace = 50 * time.Millisecond

// WithSyncPace sets how long a document's next sync message to a peer
// may wait for the peer's answer to the last one (relaysync.WithPace: one
// message per round trip, the changes made meanwhile together), clamped
// to 0…MaxSyncPace; 0 sends every change at once. Default
// relaysync.DefaultPace, 25 ms.
func (o Options) WithSyncPace(d time.Duration) Options {
	o.syncPace = min(max(d, 0), MaxSyncPace)
	return o
}

// MaxSyncWindow bounds WithSyncWindow: a change held for a follower's
// window reaches it at most that much later, half the 100 ms the
// relay's deliveries to collaborators aim at (p99).
const MaxSyncWindow = 50 * time.Millisecond

// WithSyncWindow sets how often a document's sync messages with changes
// may leave for one peer (relaysync.WithWindow: a busy collaborative
// playlist's edits reach each follower together, once per window; a
// peer's own edit is answered at once), clamped to 0…MaxSyncWindow; 0
// holds nothing. Default relaysync.DefaultWindow, 0 (no window).
func (o Options) WithSyncWindow(d time.Duration) Options {
	o.syncWindow = min(max(d, 0), MaxSyncWindow)
	return o
}

// MinSyncRate and MaxSyncRate bound both values of WithSyncRate.
const (
	MinSyncRate = 1
	MaxSyncRate = 1_000_000
)

// WithSyncRate sets each sync connection's rate limit
// (relaysync.WithRate): perSecond messages of the remote's own accord
// sustained and burst at once, beyond its answers to the relay's pushes;
// each is clamped to MinSyncRate…MaxSyncRate. Default
// relaysync.DefaultRate, relaysync.DefaultBurst.
func (o Options) WithSyncRate(perSecond, burst float64) Options {
	o.syncRate = min(max(perSecond, MinSyncRate), MaxSyncRate)
	o.syncBurst = min(max(burst, MinSyncRate), MaxSyncRate)
	return o
}

// WithSyncEphemeralRate sets each user's budget of ephemeral message
// bytes, shared by the user's sync connections
// (relaysync.WithEphemeralRate): bytesPerSecond sustained
// and burst at once; past it a message is not forwarded to the
// document's other followers and its sender is told so. Values ≤ 0 keep
// the defaults, relaysync.DefaultEphemeralRate (64 KiB/s) and
// relaysync.DefaultEphemeralBurst (256 KiB).
func (o Options) WithSyncEphemeralRate(bytesPerSecond, burst float64) Options {
	if bytesPerSecond > 0 {
		o.syncEphRate = bytesPerSecond
	}
	if burst > 0 {
		o.syncEphBurst = burst
	}
	return o
}

// WithSyncUserQuota sets how many bytes of change history one user's
// changes may add to the relay (relaysync.Quota, counted on the writer);
// 0 turns the quota off. Default relaysync.DefaultUserQuota, 256 MiB.
func (o Options) WithSyncUserQuota(n int64) Options { o.syncQuota = max(n, 0); return o }

// DefaultSyncDocMax is how many bytes of change history one document may
// hold by default (WithSyncDocMax): 64 MiB, ≈ 250,000 playlist edits. A
// loaded document holds its whole history in automerge's C memory
// (≈ 1.3–3.5 KB per change), so the cap also bounds what one document
// costs the relay to load.
const DefaultSyncDocMax = 64 << 20

// WithSyncDocMax caps one document's history at n bytes of change chunks
// (repo.WithMaxDocBytes); 0 turns the cap off. Default DefaultSyncDocMax.
func (o Options) WithSyncDocMax(n int) Options { o.syncDocMax = max(n, 0); return o }

// DefaultSignupsPerHour is how many accounts one client address may
// create per hour by default (WithSignupRate): room for a household, an
// office or a NAT, and for the repository's benchmarks (bench/synccap
// signs up at most 250 devices from loopback); before, one address could
// create accounts as fast as the relay hashed their passwords.
const DefaultSignupsPerHour = 360

// MaxSignupsPerHour bounds WithSignupRate (and segue relay --signups-per-hour).
const MaxSignupsPerHour = 1_000_000

// WithSignupRate caps the accounts one client address (as the login
// limiter keys it: the IP, IPv6 by /64) may create with open signup: a
// bucket of perHour signups refilled evenly over the hour; past it
// POST /v1/accounts is 429 (ErrTooManySignups) with Retry-After, after
// the 409 of a taken name and before any hashing. Signups with the admin
// token are not counted. At most 10,000 addresses are remembered, the
// least recently seen forgotten first. 0 removes the cap; values are
// clamped to 0…MaxSignupsPerHour. Default DefaultSignupsPerHour.
func (o Options) WithSignupRate(perHour int) Options {
	o.signupRate = min(max(perHour, 0), MaxSignupsPerHour)
	return o
}

// MaxSyncSessions bounds WithSyncSessions (and segue relay
// --sync-max-sessions, --sync-max-sessions-per-user).
const MaxSyncSessions = 1 << 20

// WithSyncSessions caps the sync WebSocket connections the relay serves
// at once (relaysync.WithMaxSessions): total across all users (past it
// 503) and perUser for one account (past it 429), both with Retry-After
// and refused before the upgrade. Sync connections also take the
// relay's long-lived connections (LongLivedConns: three quarters of
// WithMaxConns, shared with activity streams), which keeps connections
// free for HTTP requests whatever total is set here. 0 removes a cap; values
// are clamped to 0…MaxSyncSessions. Default
// relaysync.DefaultMaxSessions (12,288, three quarters of the default
// connection cap) and relaysync.DefaultMaxUserSessions (256).
func (o Options) WithSyncSessions(total, perUser int) Options {
	o.syncConns = min(max(total, 0), MaxSyncSessions)
	o.syncUserConn = min(max(perUser, 0), MaxSyncSessions)
	return o
}

// Bounds of WithSyncKeepalive (and segue relay --sync-keepalive), 0
// aside: a period under a second pings busy-looking idle devices for
// nothing, and over ten minutes a dead device holds its session (and its
// place under WithSyncSessions) for up to half an hour.
const (
	MinSyncKeepalive = time.Second
	MaxSyncKeepalive = 10 * time.Minute
)

// WithSyncKeepalive sets the keepalive period d of sync sessions
// (relaysync.WithKeepalive): a session silent for d to 2d is sent a
// WebSocket ping, and one that leaves it unanswered for d more is
// closed, freeing its place under WithSyncSessions and WithMaxConns (its
// device vanished without closing: a laptop lid shut, a NAT mapping
// dropped). Idle devices that answer stay connected. 0 turns it off;
// other values are clamped to MinSyncKeepalive…MaxSyncKeepalive.
// Default relaysync.DefaultKeepalive, 30 s.
func (o Options) WithSyncKeepalive(d time.Duration) Options {
	o.syncAlive = 0
	if d > 0 {
		o.syncAlive = min(max(d, MinSyncKeepalive), MaxSyncKeepalive)
	}
	return o
}

// DefaultSyncLoadedDocs is how many sync documents the relay keeps
// loaded in automerge by default (WithSyncLoadedDocs): 1,024.
const DefaultSyncLoadedDocs = 1024

// MinSyncLoadedDocs and MaxSyncLoadedDocs bound WithSyncLoadedDocs (and
// segue relay --sync-loaded-docs).
const (
	MinSyncLoadedDocs = 16
	MaxSyncLoadedDocs = 1 << 20
)

// WithSyncLoadedDocs sets how many sync documents stay loaded in
// automerge (repo.WithLoadedDocs): past n the least recently used idle
// ones unload and reload from the store on next use, and loads wait for
// room once 2 × n are loaded or loading (documents pinned by first syncs
// and queued writes of their content). Each loaded document costs automerge C memory in
// proportion to its history, so this bounds the relay's memory in a
// burst of first syncs (10,000 peers following 100,000 documents:
// docs/BENCHMARKS.md, burst10) at the cost of reloads. Values outside
// MinSyncLoadedDocs…MaxSyncLoadedDocs are clamped to them. Default
// DefaultSyncLoadedDocs.
func (o Options) WithSyncLoadedDocs(n int) Options {
	o.syncLoaded = min(max(n, MinSyncLoadedDocs), MaxSyncLoadedDocs)
	return o
}

// WithSyncSpill sets whether the sync repository keeps the older chunks
// of its documents' change graphs in a spill file instead of memory
// (repo.WithSpill, filespill): an unlinked file in the data directory,
// deleted when the relay stops, holding at most 16 GiB; a graph then
// keeps in memory only its newest 8–16 KiB of chunks besides its index.
// Default on.
func (o Options) WithSyncSpill(on bool) Options { o.syncSpill = on; return o }

// DataDir returns the data directory.
func (o Options) DataDir() string { return o.dataDir }

// Listen returns the listen address.
func (o Options) Listen() string { return o.listen }

// WithListen sets the TCP listen address (default 127.0.0.1:7474). Port 0
// picks a free port; Server.Start reports the address actually bound.
func (o Options) WithListen(addr string) Options { o.listen = addr; return o }

// WithOpenSignup sets whether anyone may create an account with POST
// /v1/accounts (default true). When false, account creation needs the
// admin token.
func (o Options) WithOpenSignup(open bool) Options { o.openSignup = open; return o }

// WithAdminToken sets the admin bearer token that guards /metrics and, with
// open signup off, account creation (default empty: those are refused).
// The relay compares it in constant time. A token CheckAdminToken
// refuses (shorter than MinAdminTokenLen, or with a space, control or
// non-ASCII character) makes New fail with ErrWeakAdminToken and admits
// no admin request on a relay from NewWithDataDir.
func (o Options) WithAdminToken(tok string) Options { o.adminToken = tok; return o }

// MinMaxBody and MaxMaxBody bound WithMaxBody. Below 8 KiB the largest
// valid device registration (a 1,024-byte password and a 128-byte device
// name, every byte JSON-escaped as \u00XX, and the keys) would not fit;
// above 16 MiB one body, read whole into memory, would cost the relay far
// more than any of its JSON requests needs.
const (
	MinMaxBody = 8 << 10
	MaxMaxBody = 16 << 20
)

// WithMaxBody sets the largest JSON request body accepted, in bytes
// (default 64 KiB), within MinMaxBody…MaxMaxBody (values outside are
// clamped). Larger bodies get 413.
func (o Options) WithMaxBody(n int64) Options {
	o.maxBody = min(max(n, MinMaxBody), MaxMaxBody)
	return o
}

// WithTokenTTL sets how long a device token stays valid after it is issued
// (default 90 days). Registering the device again issues a fresh token.
func (o Options) WithTokenTTL(d time.Duration) Options { o.tokenTTL = d; return o }

// WithAuthCache sets how many resolved device tokens the relay keeps in
// memory (default 100,000; 0 turns the cache off, so every request reads
// its token and device records from the store). A registration or a
// device removal invalidates every cached token at once, and expiry is
// checked on every request either way.
func (o Options) WithAuthCache(entries int) Options { o.authCache = max(entries, 0); return o }

// WithArgonParams sets the password hashing cost (default
// DefaultArgonParams).
func (o Options) WithArgonParams(p ArgonParams) Options { o.argon = p; return o }

// WithShutdownTimeout sets how long ListenAndServe waits for in-flight
// requests after its context is cancelled (default 10 s).
func (o Options) WithShutdownTimeout(d time.Duration) Options { o.shutdownWait = d; return o }

// WithIdleTimeout sets how long the relay keeps a client connection open
// with no request in flight (default 5 minutes), for HTTP/1.1 keep-alive
// and HTTP/2 alike. A connection still open when a listener presses play
// saves it the TCP (and TLS) handshake round trips; each idle connection
// costs the relay a few KiB.
func (o Options) WithIdleTimeout(d time.Duration) Options { o.idleTimeout = d; return o }

// WithReadTimeouts sets how long a client has to send a request's
// headers (default 10 s; the clock starts when the connection is ready
// for the request) and, once they are in, its body (default 30 s;
// WebSocket upgrades have no body deadline). A request whose headers are
// late is dropped with its connection; a body that is late fails with
// 408 and its connection is closed. Zero disables the respective limit.
func (o Options) WithReadTimeouts(header, body time.Duration) Options {
	o.headerWait, o.bodyTimeout = max(header, 0), max(body, 0)
	return o
}

// WithMaxConns caps the connections the relay holds open at once (default
// 16,384: 10,000 idle sync sessions and 1,000 active ones fit, see
// docs/BENCHMARKS.md). A WebSocket session counts until it closes. Beyond
// the cap new connections wait in the kernel's accept queue until one
// closes. Values below 1 become 1; it applies to Start, not to Handler.
func (o Options) WithMaxConns(n int) Options { o.maxConns = max(n, 1); return o }

// WithHashMemory sets the memory budget of password hashing in bytes
// (default 128 MiB). Every Argon2id computation (signup, device
// registration) holds its memory cost of the budget while it runs, so
// with DefaultArgonParams (64 MiB) at most 2 run at once; others wait
// (see WithHashQueue). A hash costlier than the whole budget runs alone.
// Peak RSS under a flood of password checks is about the baseline plus
// twice the budget plus per-connection memory: the Go collector lets the
// heap grow to twice its live size, and the live size includes the
// running hashes (docs/BENCHMARKS.md measures 128 MiB and 256 MiB). One
// 2-lane hash keeps 2 cores busy, so raise it only on hosts with more
// cores and memory to spare.
func (o Options) WithHashMemory(bytes int64) Options { o.hashMemory = max(bytes, 1); return o }

// WithHashQueue sets how many password checks may wait for hashing memory
// (default 64) and how long each waits at most (default 10 s). A check
// that finds the queue full, or waits longer, is answered 503 with
// Retry-After. Waiters are served fairly across client addresses: an
// address's first check goes before another address's second, and
// displaces it from a full queue.
func (o Options) WithHashQueue(waiters int, wait time.Duration) Options {
	o.hashQueue, o.hashWait = max(waiters, 0), max(wait, 0)
	return o
}

// WithLoginLimits sets the brute-force limiter of password checks
// (default DefaultLoginLimits); fields below their smallest useful value
// are raised to it (Free 0, Base 1 ms, Max Base, Entries 1, PerAddress 1).
func (o Options) WithLoginLimits(l LoginLimits) Options { o.loginLimits = l; return o }

// WithTLS makes Start serve HTTPS with the PEM certificate chain and key in
// certFile and keyFile (default: no TLS). Over TLS the relay speaks HTTP/2
// (negotiated with ALPN) and HTTP/1.1; without it, HTTP/1.1 and cleartext
// HTTP/2 with prior knowledge (h2c) on the same port. The files are read
// once, by Start; Start fails when they cannot be loaded. Both must be set
// together: an empty certFile disables TLS.
func (o Options) WithTLS(certFile, keyFile string) Options {
	o.tlsCert, o.tlsKey = certFile, keyFile
	return o
}

// TLS reports whether WithTLS was set, that is whether Start serves HTTPS.
func (o Options) TLS() bool { return o.tlsCert != "" }

// WithLogger sets the structured logger for request logs and lifecycle
// events (default slog.Default()). A nil logger discards logs.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// WithClock sets the time source for token expiry, registration
// timestamps, signed time and the login limiter's backoff (default
// time.Now). Tests pass a fake clock.
func (o Options) WithClock(now func() time.Time) Options {
	if now == nil {
		now = time.Now
	}
	o.now = now
	return o
}
