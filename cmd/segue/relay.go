package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/natslog"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

func init() {
	register("relay", "run the relay server (catalog, audio origin, keys, offline licenses)", runRelay)
}

// envOr returns the environment variable name, or def when it is unset.
func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// snapshotSaveTimeout bounds writing the search index snapshot at
// shutdown (a few seconds at 1,000,000 tracks, docs/BENCHMARKS.md); a
// relay killed during it keeps the previous snapshot (written atomically).
const snapshotSaveTimeout = 2 * time.Minute

// relayMallocArenas is the relay's cap on glibc malloc arenas (see
// cmem.LimitArenas); MALLOC_ARENA_MAX in the environment overrides it.
const relayMallocArenas = 2

// relayGCPercent is the relay's garbage collection target (GOGC) unless
// GOGC is set in the environment (the operator's choice wins): the heap
// may grow by half its live size between collections instead of
// doubling. A relay's live heap is mostly long-lived (sessions, handles,
// caches) and it allocates little per idle peer, so the collections this
// adds cost little CPU, while at GOGC=100 the heap's headroom was the
// largest share of a 10,000-peer relay's memory over its live data
// (docs/BENCHMARKS.md, burst10).
const relayGCPercent = 50

// setGCPercent sets the Go collector's target to relayGCPercent unless
// gogc (the environment's GOGC) is set, and returns the function that
// restores the one before.
func setGCPercent(gogc string) (restore func()) {
	if gogc != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(relayGCPercent)
	return func() { debug.SetGCPercent(prev) }
}

// minMemoryLimitMiB and maxMemoryLimitMiB bound --memory-limit-mib. Below
// 64 MiB the limit sits under the relay's own live heap at start (stores,
// caches, search index) and the collector would run without pause; above
// 1 TiB the byte count is no machine's memory (and 1 TiB << 20 stays far
// from int64's limit).
const (
	minMemoryLimitMiB = 64
	maxMemoryLimitMiB = 1 << 20
)

// maxBlobMemoryMiB bounds --blob-memory-mib as --memory-limit-mib is
// bounded: above 1 TiB the byte count is no machine's memory.
const maxBlobMemoryMiB = 1 << 20

// Lower bounds of the relay's duration flags: below them a value is no
// operator's intent and breaks the relay. A device token that lives less
// than a minute logs devices out between two requests; play events kept
// less than an hour (with --events-nats, the streams' MaxAge) may expire
// before they are counted; a fraud scan reads two months of play events,
// and one started more often than every minute would never rest.
const (
	minTokenTTL          = time.Minute
	minEventRetention    = time.Hour
	minFraudScanInterval = time.Minute
)

// minAccessRetention is the shortest --access-retention (but 0): the
// access records `segue reconcile` reads for a day reach 32 days back
// (its default --lookback, the offline window), and the day reconciled
// is at most two days old when a daily job runs it.
const minAccessRetention = 34 * 24 * time.Hour

// checkAccessRetention refuses an --access-retention (relay or edge) that
// is negative or would delete records reconciliation still reads.
func checkAccessRetention(d time.Duration) error {
	if d != 0 && d < minAccessRetention {
		return fmt.Errorf("%w: --access-retention %v: want 0 (keep) or at least %v", errUsage, d, minAccessRetention)
	}
	return nil
}

// defaultDevicePlays is --device-plays-per-day's default: a play a
// second all day is 86,400, and a device back from 32 days offline holds
// far fewer; a device sending more is not a listener.
const defaultDevicePlays = 100_000

// minFraudEventRetention is the shortest --event-retention (but 0) the
// relay's fraud scan works with: it rescans a month while a play of it
// can still be counted (fraud.Months: until fraud.MaxLateness after the
// month ended), and refuses a month whose events retention may have cut
// (fraud.ErrIncomplete): a 31-day month, fraud.MaxLateness and
// fraud.PruneMargin.
const minFraudEventRetention = 31*24*time.Hour + fraud.MaxLateness + fraud.PruneMargin

// checkFraudRetention refuses a retention the fraud scan (every interval;
// 0: off) cannot work with.
func checkFraudRetention(interval, retention time.Duration) error {
	if interval != 0 && retention != 0 && retention < minFraudEventRetention {
		return fmt.Errorf("%w: --event-retention %v with --fraud-scan-interval: want 0 (keep) or at least %v", errUsage, retention, minFraudEventRetention)
	}
	return nil
}

// setMemoryLimit sets the Go runtime's soft memory limit to mib MiB
// (--memory-limit-mib) and returns the function that restores the one
// before; mib 0 leaves the limit as it is (GOMEMLIMIT or none). A value
// outside minMemoryLimitMiB…maxMemoryLimitMiB is a usage error.
func setMemoryLimit(mib int64) (restore func(), err error) {
	if mib == 0 {
		return func() {}, nil
	}
	if mib < minMemoryLimitMiB || mib > maxMemoryLimitMiB {
		return nil, fmt.Errorf("%w: --memory-limit-mib %d is outside %d…%d (or 0: no limit)", errUsage, mib, minMemoryLimitMiB, maxMemoryLimitMiB)
	}
	prev := debug.SetMemoryLimit(mib << 20)
	return func() { debug.SetMemoryLimit(prev) }, nil
}

// maxSyncMiB bounds --sync-user-quota-mib (1 PiB: no disk; the byte
// count stays far from int64's limit) and maxSyncDocMiB
// --sync-doc-max-mib (1 GiB: a document's history must fit an int and
// be loadable by automerge), and maxSyncEphemeralKiB
// --sync-ephemeral-kib and --sync-ephemeral-burst-kib (1 GiB: far past
// any link, and past the largest frame).
const (
	maxSyncMiB          = 1 << 30
	maxSyncDocMiB       = 1 << 10
	maxSyncEphemeralKiB = 1 << 20
)

func runRelay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("relay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := relay.DefaultOptions("")
	data := fs.String("data", envOr("SEGUE_DATA", "segue-data"), "data directory: Badger store and keys (env SEGUE_DATA)")
	initDir := fs.Bool("init", false, "create a new relay in -data, which must be absent or empty (without it, -data must hold a relay)")
	listen := fs.String("listen", envOr("SEGUE_LISTEN", def.Listen()), "listen address; port 0 picks a free port (env SEGUE_LISTEN)")
	admin := fs.String("admin-token", envOr("SEGUE_ADMIN_TOKEN", ""), fmt.Sprintf("admin bearer token for /metrics, closed signup and POST /v1/admin/ingest, at least %d printable ASCII characters, e.g. 32 random bytes in base64 (env SEGUE_ADMIN_TOKEN); empty: admin routes refused, except that --init then makes one and prints it", relay.MinAdminTokenLen))
	signup := fs.String("open-signup", envOr("SEGUE_OPEN_SIGNUP", "true"), "allow anyone to create an account (env SEGUE_OPEN_SIGNUP)")
	ttl := fs.String("token-ttl", envOr("SEGUE_TOKEN_TTL", "2160h"), fmt.Sprintf("device token lifetime, at least %v (env SEGUE_TOKEN_TTL)", minTokenTTL))
	lanEpoch := fs.Duration("lan-key-epoch", relay.DefaultLANKeyEpoch, fmt.Sprintf("how long a LAN key lasts: keys rotate every epoch, and devices one epoch apart still meet; at least %v", relay.MinLANKeyEpoch))
	maxBody := fs.Int64("max-body", 64<<10, fmt.Sprintf("largest JSON request body in bytes, %d…%d", relay.MinMaxBody, relay.MaxMaxBody))
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "grace period for in-flight requests on SIGTERM (0: none); those still running after it are cut off and answered 503 with Retry-After")
	level := fs.String("log-level", envOr("SEGUE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env SEGUE_LOG_LEVEL)")
	fastHash := fs.Bool("insecure-fast-passwords", false, "hash passwords with a trivial Argon2id cost (tests and demos only)")
	tlsCert := fs.String("tls-cert", envOr("SEGUE_TLS_CERT", ""), "PEM certificate chain: serve HTTPS (HTTP/2 via ALPN) instead of HTTP/1.1 + h2c (env SEGUE_TLS_CERT)")
	publicURL := fs.String("public-url", envOr("SEGUE_PUBLIC_URL", ""), "base URL of share links and pages, e.g. https://segue.example (env SEGUE_PUBLIC_URL; default: the request's host)")
	licEntries := fs.Int("license-entries-per-day", license.DefaultDeviceEntriesPerDay, fmt.Sprintf("(track, tier) entries one device may be licensed per day, issued or renewed, in a bucket that size refilled over the day; more get 429 and the device retries later (0: no limit; else %d, the most one license holds, to %d)", crypto.MaxLicenseEntries, license.MaxDeviceEntriesPerDay))
	devicePlays := fs.Int("device-plays-per-day", defaultDevicePlays, fmt.Sprintf("play events one device may upload per day, in a bucket that size refilled over the day; more get 429 and the device retries later (0: no limit; at most %d)", counting.MaxDeviceQuota))
	retention := fs.Duration("event-retention", 0, fmt.Sprintf("delete raw play events this long after they arrived, once counted (0 keeps them; else at least %v, and %v with --fraud-scan-interval; counts, audit log and dedup index stay); with --events-nats the JetStream streams' MaxAge, and older plays are refused as too_old", minEventRetention, minFraudEventRetention))
	accessKeep := fs.Duration("access-retention", 0, fmt.Sprintf("delete the access records (audio served, licenses issued) of UTC days that ended this long ago, checked hourly (0 keeps them; else at least %v, what segue reconcile reads back from a recent day); reconciling a day whose records are gone then fails instead of calling its streams unbacked", minAccessRetention))
	natsURL := fs.String("events-nats", envOr("SEGUE_EVENTS_NATS", ""), "NATS server URL: keep the play-event log on JetStream (server/events/natslog) instead of the relay's Badger (env SEGUE_EVENTS_NATS)")
	fraudEvery := fs.Duration("fraud-scan-interval", 0, fmt.Sprintf("run the fraud scan of the current month and of every earlier one a play can still arrive for (32 days) this often, at least every %v, storing the flags royalties hold out (0: only 'segue fraud scan')", minFraudScanInterval))
	tlsKey := fs.String("tls-key", envOr("SEGUE_TLS_KEY", ""), "PEM private key for -tls-cert (env SEGUE_TLS_KEY)")
	syncCMem := fs.Uint64("sync-cmem-mib", relay.DefaultSyncCMemBudget>>20, "C heap (MiB, glibc's count) the sync documents may hold before the least recently used idle ones unload (past 1.5 × it, those in a sync exchange too); 0: no bound")
	syncLoaded := fs.Int("sync-loaded-docs", relay.DefaultSyncLoadedDocs, fmt.Sprintf("sync documents kept loaded in automerge: past it the least recently used idle ones unload (reloading from the store on next use), and loads wait for room past 2 × it; lower bounds the memory of a burst of first syncs at the cost of reloads; %d…%d", relay.MinSyncLoadedDocs, relay.MaxSyncLoadedDocs))
	syncPace := fs.Duration("sync-pace", relaysync.DefaultPace, fmt.Sprintf("how long a document's next sync message to a device may wait for the device's answer to the last one: one message per round trip, the edits made meanwhile together (fewer messages on busy shared playlists; a change reaches followers at most that much later); 0 off, at most %v", relay.MaxSyncPace))
	syncWindow := fs.Duration("sync-window", relaysync.DefaultWindow, fmt.Sprintf("how often a document's sync messages with changes may leave for one device: a busy shared playlist's edits reach each follower together, once per window, while a device's own edit is acknowledged at once (fewer messages per edit; a change reaches followers at most that much later); 0 off (the default; 25ms suits a relay near its core's limit), at most %v", relay.MaxSyncWindow))
	syncLinger := fs.Duration("sync-commit-linger", repo.DefaultCommitLinger, fmt.Sprintf("under load, how long a commit of sync edits waits for more to share its fsync (each edit's acknowledgement waits up to that much longer; fewer, larger commits cost the relay less CPU per edit); a lone writer never waits; 0 off, at most %v", relay.MaxSyncCommitLinger))
	syncRate := fs.Float64("sync-rate", relaysync.DefaultRate, fmt.Sprintf("messages per second a sync connection may send of its own accord (requests, edits, first syncs), beyond its answers to the relay's pushes, which are free; past it and --sync-burst the connection is closed (4429); %d…%d", relay.MinSyncRate, relay.MaxSyncRate))
	syncBurst := fs.Float64("sync-burst", relaysync.DefaultBurst, fmt.Sprintf("messages a sync connection may send of its own accord at once (see --sync-rate); %d…%d", relay.MinSyncRate, relay.MaxSyncRate))
	syncEphKiB := fs.Int("sync-ephemeral-kib", relaysync.DefaultEphemeralRate>>10, fmt.Sprintf("ephemeral message data (KiB per second) one account's sync connections may send together, which the relay forwards to every other follower of the document (presence, cursors): past it and --sync-ephemeral-burst-kib a message is not forwarded and its sender gets an error naming the document; 1…%d", maxSyncEphemeralKiB))
	syncEphBurstKiB := fs.Int("sync-ephemeral-burst-kib", relaysync.DefaultEphemeralBurst>>10, fmt.Sprintf("ephemeral message data (KiB) one account's sync connections may send at once, also the largest ephemeral message forwarded (see --sync-ephemeral-kib); 1…%d", maxSyncEphemeralKiB))
	syncQuota := fs.Int64("sync-user-quota-mib", relaysync.DefaultUserQuota>>20, fmt.Sprintf("change history (MiB) one user's sync changes may add to the relay, counted on the user who sends them (a collaborator's edits count against the collaborator): past it their changes are refused per document; 0: no quota; else 1…%d", maxSyncMiB))
	syncDocMax := fs.Int("sync-doc-max-mib", relay.DefaultSyncDocMax>>20, fmt.Sprintf("change history (MiB) one sync document may hold: past it changes to it are refused; 0: no cap; else 1…%d", maxSyncDocMiB))
	signupRate := fs.Int("signups-per-hour", relay.DefaultSignupsPerHour, fmt.Sprintf("accounts one client address may create per hour with open signup (a bucket that size refilled over the hour; past it 429 with Retry-After; the admin token is not counted); 0: no limit; else 1…%d", relay.MaxSignupsPerHour))
	blobMemMiB := fs.Int64("blob-memory-mib", relay.DefaultBlobMemory>>20, fmt.Sprintf("memory budget in MiB for the audio blobs being served (headers, chunks, /v1/blobs), each held until its answer is written: past it a request waits -blob-wait, then 503 with Retry-After; %d…%d", model.MaxBlobSize>>20, maxBlobMemoryMiB))
	blobClientMiB := fs.Int64("blob-memory-per-client-mib", 0, fmt.Sprintf("part of -blob-memory-mib one account (one client address without a device token) may hold at once: past it its request waits -blob-wait for its own earlier ones, then 503 with Retry-After, so one client's parallel reads cannot make every other listener wait; 0: a quarter of -blob-memory-mib, at least %d; else %d…-blob-memory-mib", model.MaxBlobSize>>20, model.MaxBlobSize>>20))
	blobWait := fs.Duration("blob-wait", relay.DefaultBlobWait, fmt.Sprintf("how long an audio request waits in all for -blob-memory-mib room (its account's share included), 0…%s", relay.MaxBlobWait))
	maxInFlight := fs.Int("max-inflight", relay.DefaultMaxInFlight, fmt.Sprintf("requests the relay handles at once, across all clients: past it 503 with Retry-After (/healthz, /metrics and activity streams not counted; a sync WebSocket only until upgraded); 0: no cap; else 1…%d", relay.MaxMaxInFlight))
	syncSessions := fs.Int("sync-max-sessions", relaysync.DefaultMaxSessions, fmt.Sprintf("sync WebSocket connections served at once, across all users: past it 503 with Retry-After before the upgrade; whatever it is, sync connections and activity streams together hold at most 12,288 of the 16,384 connections the relay holds open (503 beyond), so HTTP requests still get in; 0: no cap; else 1…%d", relay.MaxSyncSessions))
	syncUserSessions := fs.Int("sync-max-sessions-per-user", relaysync.DefaultMaxUserSessions, fmt.Sprintf("sync WebSocket connections one account may hold at once: past it 429 with Retry-After before the upgrade; 0: no cap; else 1…%d", relay.MaxSyncSessions))
	syncKeepalive := fs.Duration("sync-keepalive", relaysync.DefaultKeepalive, fmt.Sprintf("keepalive period of sync WebSocket connections: one silent for one to two periods gets a ping, and one that leaves it unanswered for a period more is closed, freeing its place under --sync-max-sessions (a device gone without closing: lid shut, NAT mapping dropped); devices that answer stay connected; 0 off, else %v…%v", relay.MinSyncKeepalive, relay.MaxSyncKeepalive))
	userTimeout := fs.Duration("tcp-user-timeout", relay.DefaultTCPUserTimeout, fmt.Sprintf("TCP_USER_TIMEOUT of the relay's connections (Linux; elsewhere ignored, with a log line): a connection whose sent data stays unacknowledged this long (a client gone without closing while the relay was sending to it) is closed by the kernel instead of after its retransmissions give up (about 15 minutes), freeing its memory and its place; 0 off, else %v…%v", relay.MinTCPUserTimeout, relay.MaxTCPUserTimeout))
	syncSpill := fs.Bool("sync-spill", true, "keep the older chunks of the sync documents' change graphs in an unlinked spill file in the data directory (at most 16 GiB, gone when the relay stops) instead of memory; false keeps them in memory")
	storeCache := fs.Int64("store-cache-mib", catalog.DefaultStoreCacheMiB, "size (MiB) of the store's Badger block cache (decompressed table blocks; table indices stay in memory); 0: Badger's default, 256 MiB")
	memLimit := fs.Int64("memory-limit-mib", 0, fmt.Sprintf("soft limit (MiB) on the Go runtime's memory (heap, stacks; not automerge's C heap, see --sync-cmem-mib): the garbage collector runs more often as it nears it instead of letting the heap double (GOGC=100); 0: no limit set by the relay (GOMEMLIMIT, if set, applies); else %d…%d", minMemoryLimitMiB, maxMemoryLimitMiB))
	pprofAddr := fs.String("pprof", "", "serve Go profiles (net/http/pprof) on this loopback host:port, e.g. 127.0.0.1:6060; off when empty")
	pprofContention := fs.Bool("pprof-contention", false, "with -pprof: record where goroutines wait (/debug/pprof/block: channel, select and lock waits of 10 µs and more, sampled) and contended locks (/debug/pprof/mutex: one in 10), at some CPU cost; off by default")
	s3 := addBlobS3Flags(fs)
	recsFactors := fs.String("recs-factors", envOr("SEGUE_RECS_FACTORS", ""), "directory of ALS factors trained by Spark (docs/ARCHITECTURE.md §9), read at every recommendation run instead of training in process (env SEGUE_RECS_FACTORS)")
	recsPacing := fs.Float64("recs-pacing", relayrecs.DefaultPacing, "share of the time, in (0, 1], that the scheduled recommendation runs (Discover Weekly, Daily Mixes, Release Radar) may take: after each listener's deliveries a run waits until its work is that share, so a run for many listeners at once leaves the relay's cores to sync and HTTP; 1: no waits")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if !(*recsPacing > 0 && *recsPacing <= 1) {
		return fmt.Errorf("%w: --recs-pacing %v is outside (0, 1]", errUsage, *recsPacing)
	}
	if err := s3.validate(fs); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := checkRecsFactors(*recsFactors); err != nil {
		return err
	}
	open, err := strconv.ParseBool(*signup)
	if err != nil {
		return fmt.Errorf("%w: -open-signup: %v", errUsage, err)
	}
	tokTTL, err := time.ParseDuration(*ttl)
	if err != nil || tokTTL < minTokenTTL {
		return fmt.Errorf("%w: --token-ttl %q: want a duration of at least %v", errUsage, *ttl, minTokenTTL)
	}
	if *lanEpoch < relay.MinLANKeyEpoch {
		return fmt.Errorf("%w: --lan-key-epoch %v: want at least %v", errUsage, *lanEpoch, relay.MinLANKeyEpoch)
	}
	if *maxBody < relay.MinMaxBody || *maxBody > relay.MaxMaxBody {
		return fmt.Errorf("%w: --max-body %d is outside %d…%d bytes", errUsage, *maxBody, relay.MinMaxBody, relay.MaxMaxBody)
	}
	if err := relay.CheckAdminToken(*admin); err != nil {
		return fmt.Errorf("%w: --admin-token (or SEGUE_ADMIN_TOKEN): %w", errUsage, err)
	}
	newAdmin := *initDir && *admin == ""
	if newAdmin {
		*admin = relay.NewAdminToken()
	}
	if *shutdown < 0 {
		return fmt.Errorf("%w: --shutdown-timeout %v: want 0 (no grace) or a positive duration", errUsage, *shutdown)
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: -log-level: %v", errUsage, err)
	}
	if *data == "" {
		return fmt.Errorf("%w: -data is empty", errUsage)
	}
	if *retention != 0 && *retention < minEventRetention {
		return fmt.Errorf("%w: --event-retention %v: want 0 (keep) or at least %v", errUsage, *retention, minEventRetention)
	}
	if *fraudEvery != 0 && *fraudEvery < minFraudScanInterval {
		return fmt.Errorf("%w: --fraud-scan-interval %v: want 0 (off) or at least %v", errUsage, *fraudEvery, minFraudScanInterval)
	}
	if err := checkFraudRetention(*fraudEvery, *retention); err != nil {
		return err
	}
	if err := checkAccessRetention(*accessKeep); err != nil {
		return err
	}
	if *licEntries != 0 && (*licEntries < crypto.MaxLicenseEntries || *licEntries > license.MaxDeviceEntriesPerDay) {
		return fmt.Errorf("%w: --license-entries-per-day %d: want 0 (no limit) or %d to %d", errUsage, *licEntries, crypto.MaxLicenseEntries, license.MaxDeviceEntriesPerDay)
	}
	if *devicePlays < 0 || *devicePlays > counting.MaxDeviceQuota {
		return fmt.Errorf("%w: --device-plays-per-day %d: want 0 (no limit) to %d", errUsage, *devicePlays, counting.MaxDeviceQuota)
	}
	if u, err := url.Parse(*publicURL); *publicURL != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		return fmt.Errorf("%w: -public-url %q: want http(s)://host[/path]", errUsage, *publicURL)
	}
	if (*tlsCert == "") != (*tlsKey == "") {
		return fmt.Errorf("%w: -tls-cert and -tls-key go together", errUsage)
	}
	if *pprofAddr != "" {
		if err := checkPprofAddr(*pprofAddr); err != nil {
			return fmt.Errorf("%w: -pprof: %w", errUsage, err)
		}
	}
	if *pprofContention && *pprofAddr == "" {
		return fmt.Errorf("%w: -pprof-contention needs -pprof", errUsage)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	if cmem.LimitArenas(relayMallocArenas) {
		log.Debug("malloc arenas limited for automerge's C memory", "arenas", relayMallocArenas)
	}
	keepCtx, stopKeep := context.WithCancel(ctx)
	defer stopKeep()
	if *pprofAddr != "" {
		a, err := startPprof(keepCtx, *pprofAddr, log)
		if err != nil {
			return err
		}
		log.Info("serving profiles", "addr", a.String())
		if *pprofContention {
			recordContention()
		}
	}
	go cmem.Keep(keepCtx, cmem.DefaultKeeperOptions().WithLogger(log))
	opts := relay.DefaultOptions(*data).
		WithListen(*listen).
		WithAdminToken(*admin).
		WithOpenSignup(open).
		WithTokenTTL(tokTTL).
		WithLANKeyEpoch(*lanEpoch).
		WithMaxBody(*maxBody).
		WithShutdownTimeout(*shutdown).
		WithSyncCMemBudget(*syncCMem<<20).
		WithSyncLoadedDocs(*syncLoaded).
		WithSyncCommitLinger(*syncLinger).
		WithSyncPace(*syncPace).
		WithSyncWindow(*syncWindow).
		WithSyncSpill(*syncSpill).
		WithSyncRate(*syncRate, *syncBurst).
		WithSyncEphemeralRate(float64(*syncEphKiB)*1024, float64(*syncEphBurstKiB)*1024).
		WithSyncUserQuota(*syncQuota<<20).
		WithSyncDocMax(*syncDocMax<<20).
		WithMaxInFlight(*maxInFlight).
		WithBlobMemory(*blobMemMiB<<20, *blobWait).WithBlobMemoryPerClient(*blobClientMiB<<20).
		WithSignupRate(*signupRate).
		WithSyncSessions(*syncSessions, *syncUserSessions).
		WithSyncKeepalive(*syncKeepalive).
		WithTCPUserTimeout(*userTimeout).
		WithLogger(log)
	if *fastHash {
		opts = opts.WithArgonParams(relay.FastArgonParams)
	}
	if *tlsCert != "" {
		opts = opts.WithTLS(*tlsCert, *tlsKey)
	}
	if *syncCMem > math.MaxUint64>>20 {
		return fmt.Errorf("%w: --sync-cmem-mib %d is too large", errUsage, *syncCMem)
	}
	if *syncLoaded < relay.MinSyncLoadedDocs || *syncLoaded > relay.MaxSyncLoadedDocs {
		return fmt.Errorf("%w: --sync-loaded-docs %d is outside %d…%d", errUsage, *syncLoaded, relay.MinSyncLoadedDocs, relay.MaxSyncLoadedDocs)
	}
	if *syncLinger < 0 || *syncLinger > relay.MaxSyncCommitLinger {
		return fmt.Errorf("%w: --sync-commit-linger %v is outside 0…%v", errUsage, *syncLinger, relay.MaxSyncCommitLinger)
	}
	if *syncPace < 0 || *syncPace > relay.MaxSyncPace {
		return fmt.Errorf("%w: --sync-pace %v is outside 0…%v", errUsage, *syncPace, relay.MaxSyncPace)
	}
	if *syncWindow < 0 || *syncWindow > relay.MaxSyncWindow {
		return fmt.Errorf("%w: --sync-window %v is outside 0…%v", errUsage, *syncWindow, relay.MaxSyncWindow)
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"sync-rate", *syncRate}, {"sync-burst", *syncBurst}} {
		if !(f.v >= relay.MinSyncRate && f.v <= relay.MaxSyncRate) {
			return fmt.Errorf("%w: --%s %v is outside %d…%d", errUsage, f.name, f.v, relay.MinSyncRate, relay.MaxSyncRate)
		}
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"sync-ephemeral-kib", *syncEphKiB}, {"sync-ephemeral-burst-kib", *syncEphBurstKiB}} {
		if f.v < 1 || f.v > maxSyncEphemeralKiB {
			return fmt.Errorf("%w: --%s %d is outside 1…%d", errUsage, f.name, f.v, maxSyncEphemeralKiB)
		}
	}
	if *syncQuota < 0 || *syncQuota > maxSyncMiB {
		return fmt.Errorf("%w: --sync-user-quota-mib %d is outside 0…%d", errUsage, *syncQuota, maxSyncMiB)
	}
	if *signupRate < 0 || *signupRate > relay.MaxSignupsPerHour {
		return fmt.Errorf("%w: --signups-per-hour %d is outside 0…%d", errUsage, *signupRate, relay.MaxSignupsPerHour)
	}
	if *blobMemMiB < model.MaxBlobSize>>20 || *blobMemMiB > maxBlobMemoryMiB {
		return fmt.Errorf("%w: --blob-memory-mib %d is outside %d…%d", errUsage, *blobMemMiB, model.MaxBlobSize>>20, maxBlobMemoryMiB)
	}
	if *blobClientMiB != 0 && (*blobClientMiB < model.MaxBlobSize>>20 || *blobClientMiB > *blobMemMiB) {
		return fmt.Errorf("%w: --blob-memory-per-client-mib %d is outside 0, %d…%d (--blob-memory-mib)", errUsage, *blobClientMiB, model.MaxBlobSize>>20, *blobMemMiB)
	}
	if *blobWait < 0 || *blobWait > relay.MaxBlobWait {
		return fmt.Errorf("%w: --blob-wait %v is outside 0…%v", errUsage, *blobWait, relay.MaxBlobWait)
	}
	if *maxInFlight < 0 || *maxInFlight > relay.MaxMaxInFlight {
		return fmt.Errorf("%w: --max-inflight %d is outside 0…%d", errUsage, *maxInFlight, relay.MaxMaxInFlight)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"sync-max-sessions", *syncSessions}, {"sync-max-sessions-per-user", *syncUserSessions}} {
		if f.v < 0 || f.v > relay.MaxSyncSessions {
			return fmt.Errorf("%w: --%s %d is outside 0…%d", errUsage, f.name, f.v, relay.MaxSyncSessions)
		}
	}
	if *syncKeepalive != 0 && (*syncKeepalive < relay.MinSyncKeepalive || *syncKeepalive > relay.MaxSyncKeepalive) {
		return fmt.Errorf("%w: --sync-keepalive %v is outside 0 or %v…%v", errUsage, *syncKeepalive, relay.MinSyncKeepalive, relay.MaxSyncKeepalive)
	}
	if err := checkTCPUserTimeout(*userTimeout); err != nil {
		return err
	}
	if err := checkListen(*listen); err != nil {
		return err
	}
	if *syncDocMax < 0 || *syncDocMax > maxSyncDocMiB {
		return fmt.Errorf("%w: --sync-doc-max-mib %d is outside 0…%d", errUsage, *syncDocMax, maxSyncDocMiB)
	}
	if *storeCache < 0 || *storeCache > catalog.MaxStoreCacheMiB {
		return fmt.Errorf("%w: --store-cache-mib %d is outside 0…%d", errUsage, *storeCache, catalog.MaxStoreCacheMiB)
	}
	defer setGCPercent(os.Getenv("GOGC"))()
	restoreLimit, err := setMemoryLimit(*memLimit)
	if err != nil {
		return err
	}
	defer restoreLimit()
	if *memLimit != 0 {
		log.Info("go memory limit set", "mib", *memLimit)
	}
	// With the listen address taken, --init used to create the relay and
	// only then fail, and running it again was refused as "not empty".
	if err := probeListen(ctx, *listen); err != nil {
		return err
	}
	mode := catalog.OpenExisting
	if *initDir {
		mode = catalog.InitNew
	}
	ddOpts, err := s3.apply(ctx, catalog.DefaultDataDirOptions().WithInit(mode).WithLogger(log).WithStoreCache(*storeCache), log)
	if err != nil {
		return err
	}
	dd, err := catalog.OpenDataDirWith(ctx, *data, ddOpts)
	switch {
	case errors.Is(err, catalog.ErrNotInitialized):
		return fmt.Errorf("%w: to create a new relay there, run `segue relay --init --data %s`", err, *data)
	case errors.Is(err, catalog.ErrNotEmpty):
		return fmt.Errorf("%w: --init creates a relay only in an absent or empty directory; to run the relay already in it, drop --init", err)
	case err != nil:
		return fmt.Errorf("open data dir: %w", err)
	}
	defer dd.Close()
	if err := s3.check(dd); err != nil {
		return err
	}
	if dd.Created {
		log.Info("created a new relay data directory", "dir", dd.Dir)
	}
	var evlog events.Log = events.NewStoreLog(dd.Store).WithTailCache(events.DefaultTailCache)
	if *natsURL != "" {
		nc, err := nats.Connect(*natsURL, nats.Name("segue-relay"))
		if err != nil {
			return fmt.Errorf("connect to nats: %w", err)
		}
		defer nc.Close()
		if evlog, err = natslog.Open(ctx, nc, natslog.DefaultOptions().WithMaxAge(*retention)); err != nil {
			return err
		}
	}
	srv := relay.NewWithDataDir(dd, opts)
	accessLog := access.NewStoreWriter(dd.Store, access.DefaultOptions().WithLogger(log))
	defer accessLog.Close()
	srv.SetAccessWriter(accessLog)
	if *accessKeep > 0 {
		actx, stopRetain := context.WithCancel(ctx)
		retained := make(chan struct{})
		go func() {
			defer close(retained)
			access.Retain(actx, access.NewStorePruner(dd.Store), *accessKeep, time.Now, log)
		}()
		defer func() { stopRetain(); <-retained }()
	}
	svc, err := mountServices(ctx, dd, srv, serviceConfig{admin: *admin, publicURL: *publicURL, recsFactors: *recsFactors,
		recsPacing: *recsPacing, retention: *retention, devicePlays: *devicePlays, licEntries: *licEntries, access: accessLog, events: evlog, log: log})
	if err != nil {
		srv.Close()
		return err
	}
	defer svc.stopRecs()
	ss, counts := svc.search, svc.counts
	addr, err := srv.Start(ctx)
	if err != nil {
		srv.Close()
		return err
	}
	cctx, stopCounting := context.WithCancel(ctx)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		if err := counts.Run(cctx); err != nil && cctx.Err() == nil {
			log.Error("counting consumer stopped", "err", err)
		}
	}()
	defer func() { stopCounting(); <-counted }()
	defer startFraudScans(ctx, dd.Store, evlog, counts, *fraudEvery, log)()
	scheme := "http"
	if opts.TLS() {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "relay listening on %s://%s\n", scheme, addr)
	if newAdmin {
		fmt.Fprintf(stdout, "admin token (made by --init; keep it and give it as --admin-token or SEGUE_ADMIN_TOKEN when this relay starts again): %s\n", *admin)
	}
	serr := srv.Wait()
	svc.stopRecs()
	// ctx is cancelled by the signal that stopped the relay: the snapshot
	// is written under its own bound instead.
	sctx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), snapshotSaveTimeout)
	err = ss.Close(sctx)
	cancelSave()
	if err != nil {
		log.Warn("search: save index snapshot at shutdown", "err", err)
	}
	if cerr := srv.Close(); serr == nil {
		serr = cerr
	}
	return serr
}

// checkTCPUserTimeout validates --tcp-user-timeout of segue relay and
// segue edge: 0 (off) or relay.MinTCPUserTimeout…relay.MaxTCPUserTimeout
// (tcplisten's bounds), else a usage error.
func checkTCPUserTimeout(d time.Duration) error {
	if d != 0 && (d < relay.MinTCPUserTimeout || d > relay.MaxTCPUserTimeout) {
		return fmt.Errorf("%w: --tcp-user-timeout %v is outside 0 or %v…%v", errUsage, d, relay.MinTCPUserTimeout, relay.MaxTCPUserTimeout)
	}
	return nil
}

// checkListen validates --listen of segue relay and segue edge: host:port
// with a port of 0…65535 (a number or a service name), else a usage
// error; binding it is left to the listener.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("%w: --listen %q: want host:port, port 0…65535 (%v)", errUsage, addr, err)
	}
	return nil
}

// probeListen binds addr and releases it at once, so that a relay whose
// listen address is taken fails before its data directory is created or
// opened. Another process may still take the address before the relay
// binds it for good; Start then fails as before.
func probeListen(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return ln.Close()
}
