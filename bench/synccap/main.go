// Command synccap is the relay sync load generator (docs/BENCHMARKS.md):
// it drives a running `segue relay` (started with
// --insecure-fast-passwords and open signup) over real automerge-repo
// WebSocket connections from a separate process, so the relay's CPU and
// memory are its own. Pin them apart:
//
//	taskset -c 1 segue relay --data /tmp/r --init --insecure-fast-passwords --listen 127.0.0.1:8099 &
//	taskset -c 0 go run ./bench/synccap -url http://127.0.0.1:8099 -relay-pid $! -scenario a
//
// Every device is one user with one connection. Each owns a playlist it
// edits; shared playlists are owned by one device and list followers as
// collaborators, who all sync them and edit them too. Shared playlist s
// is followed by devices s×E … s×E+followers−1 (E editors each, the
// first E of them), so while shared × E ≤ devices no device edits two
// shared playlists: a device edits its own playlist and at most one
// shared one, and stays under the relay's rate limit of its own
// messages (relaysync.DefaultRate) at the rates the goals ask for. Edits are offered
// at -rate per second in total (a -shared fraction of them on shared
// playlists) from a Poisson-free fixed schedule. Reported: edits offered
// and acknowledged, edit→ack latency (the relay answered with heads
// including the edit: it is durable there), edit→followers latency (each
// other follower's device holds the edit), and every second the relay's
// CPU (from /proc/<pid>/stat) and RSS, and the generator's own line with
// the largest edit→ack and edit→follower latencies recorded in that
// second (ackmax, folmax: where in the run the tail is). At the end, the
// sync messages of the edit phase both ways per acknowledged edit, and
// how many changes a message from the relay that carried any carried on
// average (how much the relay batched).
//
// With -replay the generator spends its core on sending, not on making
// changes: before the timed edit phase it computes the whole schedule
// and pre-makes every scheduled edit (the same playlist-add changes as
// without -replay), keeping only their bytes, hashes and dependencies,
// then closes every automerge document. A playlist's pre-made changes
// form one history in schedule order: each is made with its editor's
// actor and depends on the edit scheduled before it on that playlist,
// whoever makes it, as the edit of a device that received every earlier
// one does. During the edit phase a device sends its next pre-made
// change, once its change graph holds the change's dependencies (it
// waits for them to arrive from the relay; latency still counts from
// the edit's scheduled time), in a sync message built by sync/msync
// from the graph, and receives (acknowledgements, other devices'
// changes) into the graph only: no automerge on the hot path. Pre-making
// the editors' chains independently instead (each forking from the
// heads it held) is valid automerge too, but leaves a shared playlist
// with one head per editor, which made every delivery dearer for both
// relay and generator (docs/BENCHMARKS.md, "Sync: a replaying generator").
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cmem"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// genMallocArenas is the generator's cap on glibc's malloc arenas (see
// cmem.LimitArenas), as the relay's.
const genMallocArenas = 2

// errConflict is post's error for an HTTP 409 answer.
var errConflict = errors.New("HTTP 409 Conflict")

// drain is how long after the edit phase edits still queued (the relay
// pushing back on their connections) may be sent; the rest count as
// errors.
const drain = 10 * time.Second

type config struct {
	url, prefix           string
	relayPID              int
	devices, shared, fols int
	idle                  int
	rate, sharedFrac      float64
	duration              time.Duration
	// docsFile, when set, lists documents already on the relay's disk
	// ("user document" lines from -setup): the idle peers then follow
	// follow documents each, logged in as their owners.
	docsFile   string
	follow     int
	adminToken string // for the relay's Go heap from /metrics
	// full makes every device receive with automerge's sync state and
	// apply each change to its document at once (-full-followers).
	full bool
	// editors is how many of a shared playlist's followers edit it (the
	// first ones, its owner first); the others only follow.
	editors int
	// replay pre-makes every edit before the edit phase (-replay).
	replay bool
}

func main() {
	var c config
	scenario := flag.String("scenario", "a", "preset: a (200 devices, 20 shared × 20 followers, 1,000 edits/s), b (100 devices following 100 shared playlists, 10,000 idle peers, 50 edits/s), c (a at 20,000 edits/s offered: maximum throughput), d (documents of -docs-file on the relay's disk, 10,000 idle peers following 10 of them each, 50 devices editing their own playlists at 100 edits/s); flags given explicitly override it")
	var sc setupConfig
	flag.StringVar(&sc.dir, "setup", "", "instead of a run: fill this stopped relay's data directory with -docs playlists and exit")
	flag.StringVar(&sc.out, "setup-out", "synccap-docs.txt", "with -setup: where to write the \"user document\" lines for -docs-file")
	flag.IntVar(&sc.users, "setup-users", 200, "with -setup: owners of the documents (users <prefix>0…)")
	flag.IntVar(&sc.docs, "setup-docs", 100000, "with -setup: playlists to write")
	flag.IntVar(&sc.entries, "setup-entries", 10, "with -setup: entries per playlist (one change each)")
	flag.StringVar(&c.docsFile, "docs-file", "", "documents on the relay's disk, from -setup (scenario d)")
	flag.IntVar(&c.follow, "follow", 0, "with -docs-file: documents each idle peer follows")
	flag.StringVar(&c.adminToken, "admin-token", "", "the relay's admin token: print its Go heap (/metrics) with its RSS")
	flag.BoolVar(&c.full, "full-followers", false, "devices receive with automerge's sync states and apply every change to their documents at once (the generator's behaviour before sync10e, at more CPU per delivered change), instead of keeping the change graph in Go and loading received changes into the document when they next edit it")
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8099", "relay base URL")
	flag.IntVar(&c.relayPID, "relay-pid", 0, "relay process id, for CPU and RSS (0: not reported)")
	flag.StringVar(&c.prefix, "prefix", "", "username prefix (default: random, so runs do not collide)")
	devices := flag.Int("devices", 0, "devices (users), each with its own playlist")
	shared := flag.Int("shared", 0, "shared playlists")
	fols := flag.Int("followers", 0, "followers (collaborators, online) per shared playlist")
	idle := flag.Int("idle", -1, "idle peers (connected, following nothing)")
	rate := flag.Float64("rate", 0, "edits per second offered, in total")
	sharedFrac := flag.Float64("shared-frac", -1, "fraction of edits on shared playlists")
	dur := flag.Duration("duration", 30*time.Second, "edit phase")
	editors := flag.Int("editors", 0, "followers of each shared playlist that edit it (its owner first; 0: all). The others follow it with the change graph only, holding no automerge document: automerge 0.5 keeps ≈ 3.5 KB of C memory per change in each document, so 20 editing replicas of each shared playlist grow the generator by ≈ 70 KB per shared edit (docs/BENCHMARKS.md)")
	flag.BoolVar(&c.replay, "replay", false, "before the edit phase, pre-make every scheduled edit (the same playlist-add changes; a playlist's in one history in schedule order, each depending on the edit scheduled before it; progress on stderr; at most 1,000,000 in a run) and close the automerge documents; the edit phase then sends each once its device holds its dependencies and receives with change graphs only, without automerge, so the generator's core goes to the sync traffic (not with -full-followers)")
	cpuProfile := flag.String("cpuprofile", "", "write the generator's own CPU profile (the whole run) to this file")
	memProfile := flag.String("memprofile", "", "write the generator's heap profile (at the end of the run) to this file")
	flag.Parse()
	cmem.LimitArenas(genMallocArenas)
	kctx, kstop := context.WithCancel(context.Background())
	defer kstop()
	go cmem.Keep(kctx, cmem.DefaultKeeperOptions())
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fatal(err)
		}
		defer stop()
	}
	if sc.dir != "" {
		if c.prefix == "" {
			fatal(errors.New("-setup needs -prefix (the owners' usernames)"))
		}
		sc.prefix = c.prefix
		if err := setup(context.Background(), sc); err != nil {
			fatal(err)
		}
		return
	}
	switch *scenario {
	case "a":
		c.devices, c.shared, c.fols, c.rate, c.sharedFrac = 200, 20, 20, 1000, 0.5
	case "b":
		c.devices, c.shared, c.fols, c.idle, c.rate, c.sharedFrac = 100, 100, 100, 10000, 50, 1
	case "c":
		c.devices, c.shared, c.fols, c.rate, c.sharedFrac = 200, 20, 20, 20000, 0.5
	case "d":
		c.devices, c.shared, c.fols, c.idle, c.rate, c.sharedFrac = 50, 0, 0, 10000, 100, 0
		if c.follow == 0 {
			c.follow = 10
		}
		if c.docsFile == "" {
			fatal(errors.New("scenario d needs -docs-file (from -setup)"))
		}
	default:
		fatal(fmt.Errorf("unknown scenario %q", *scenario))
	}
	set := func(v int, dst *int) {
		if v > 0 {
			*dst = v
		}
	}
	set(*devices, &c.devices)
	set(*shared, &c.shared)
	set(*fols, &c.fols)
	if *idle >= 0 {
		c.idle = *idle
	}
	if *rate > 0 {
		c.rate = *rate
	}
	if *sharedFrac >= 0 {
		c.sharedFrac = *sharedFrac
	}
	c.duration = *dur
	c.editors = *editors
	if c.prefix == "" || c.docsFile != "" {
		var b [3]byte
		_, _ = rand.Read(b[:])
		c.prefix = fmt.Sprintf("b%x", b)
	}
	if c.fols > c.devices || c.devices < 1 || c.rate <= 0 || c.sharedFrac > 1 || c.follow < 0 || c.editors < 0 || c.editors > c.fols || c.replay && c.full {
		fatal(errors.New("want 1 ≤ followers ≤ devices, rate > 0, shared-frac ≤ 1, follow ≥ 0, 0 ≤ editors ≤ followers, not both -replay and -full-followers"))
	}
	if _, err := run(context.Background(), c); err != nil {
		fatal(err)
	}
	if *memProfile != "" {
		if err := writeHeapProfile(*memProfile); err != nil {
			fatal(err)
		}
	}
}

// writeHeapProfile writes the generator's heap profile to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	return f.Close()
}

// startCPUProfile profiles the generator into path until the returned
// function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "synccap:", err)
	os.Exit(1)
}

// doc is one device's replica of one document and its sync state.
//
// By default the replica is its change graph (sync/msync, whose sync
// states are byte for byte automerge's): a message from the relay
// updates the graph and the sync state in Go, and its changes are kept
// for the automerge document, which receives them in one call when the
// device next edits the document. A follower only has to acknowledge
// what it holds, so the messages the relay sees are those of a device
// whose automerge document applied every change at once. With
// -full-followers, every message is received by automerge's own sync
// state and applied to the document at once (the generator's behaviour
// before; more of its CPU per delivered change, see docs/BENCHMARKS.md).
type doc struct {
	id     docs.DocumentID
	am     *automerge.Doc
	shared int // index of the shared playlist, -1 for an own one
	// last is the largest entry position the device holds (its own
	// edits' and those of the changes it received during the run): the
	// next entry goes after it, as docs.AtEnd places it.
	last string

	// ss is automerge's sync state (-full-followers); nil otherwise.
	ss *automerge.SyncState
	// g and ms are the change graph and the Go sync state (default).
	g  *msync.Graph
	ms *msync.State
	// unapplied are chunks in g, in g's order, that am has not loaded.
	unapplied [][]byte
	// queued are received changes whose dependencies g lacks.
	queued map[automerge.ChangeHash]queuedChange

	// pre are the device's changes pre-made for -replay (am is closed
	// then), sent in order: the first sent of them are in g. base are
	// g's heads when they were pre-made. preSeq maps the hash of every
	// change pre-made on the document (by any device) to its place in
	// the document's pre-made history; shared, read-only. arrived, when
	// not nil, is closed when g next gains changes (an edit waits for
	// its dependencies).
	pre     []premade
	sent    int
	base    []automerge.ChangeHash
	preSeq  map[automerge.ChangeHash]int
	arrived chan struct{}
}

type queuedChange struct {
	c   msync.Change
	raw []byte
}

// device is one user's device: one connection, its replicas.
type device struct {
	n    int
	full bool // -full-followers: automerge sync states and documents
	// replay: the device's edits are pre-made (-replay); guarded by mu.
	replay bool
	user   model.UserID
	peerID string // the connection's automerge-repo peer id (and storage id + "-store")
	token  string
	conn   *peer.WSConn
	mu     sync.Mutex
	docs   map[docs.DocumentID]*doc
	// out is the send queue (guarded by outMu), written by write; wake
	// signals it, closed ends it when read ends.
	outMu        sync.Mutex
	out          []outgoing
	wake, closed chan struct{}
	// unacked are the device's edits the relay has not acknowledged;
	// guarded by stats.mu.
	unacked []*pending
}

// pending is one edit awaiting its ack and its followers.
type pending struct {
	at      time.Time
	hash    automerge.ChangeHash
	acked   bool
	waiting map[*device]bool // followers that do not hold it yet
	// doc and seq are, for a pre-made edit (-replay), its document and
	// its place in the document's pre-made history; seq is -1
	// otherwise.
	doc docs.DocumentID
	seq int
}

type stats struct {
	mu     sync.Mutex
	byHash map[automerge.ChangeHash]*pending // edits not yet acknowledged or not yet with every follower
	// ack and fol are edit→ack and edit→follower latencies; lag is how
	// late the schedule dispatched each edit (the generator's own
	// delay), send how late its message was handed to the connection.
	ack, fol, lag, send hist
	// secAck and secFol are the largest edit→ack and edit→follower
	// latencies recorded since the monitor's last line (which prints
	// and resets them), to place the tail in time.
	secAck, secFol time.Duration
	offered        int
	errs           int
	firstErr       string
	refused        int // error messages from the relay (refused sync messages)
	firstRef       string
	// led holds the chunks and positions of edits in byHash.
	led ledger
	// inflight counts edits dispatched and not yet sent.
	inflight atomic.Int64
	// wire counts the sync messages of the run both ways (setup's
	// included; run takes the difference over the edit phase).
	wire wireCounts
	// devs are the run's devices, for checks of their replicas after
	// the run.
	devs []*device
}

// wireCounts counts sync messages between the devices and the relay:
// messages from the relay (in), those of them carrying changes
// (inChanged) and the changes they carried (inChanges), and messages to
// the relay (out). Safe for concurrent use.
type wireCounts struct {
	in, inChanged, inChanges, out atomic.Int64
}

// wireTotals are wireCounts read at one moment.
type wireTotals struct{ in, inChanged, inChanges, out int64 }

func (w *wireCounts) snapshot() wireTotals {
	return wireTotals{w.in.Load(), w.inChanged.Load(), w.inChanges.Load(), w.out.Load()}
}

// since returns the counts of t that came after earlier.
func (t wireTotals) since(earlier wireTotals) wireTotals {
	return wireTotals{t.in - earlier.in, t.inChanged - earlier.inChanged, t.inChanges - earlier.inChanges, t.out - earlier.out}
}

// countIn records one sync message from the relay with data as its
// payload.
func (w *wireCounts) countIn(data []byte) {
	w.in.Add(1)
	if n, err := wire.SyncChangeCount(data); err == nil && n > 0 {
		w.inChanged.Add(1)
		w.inChanges.Add(int64(n))
	}
}

func newStats() *stats {
	return &stats{byHash: map[automerge.ChangeHash]*pending{}}
}

// done forgets p once it is acknowledged and with every follower.
// Caller holds s.mu.
func (s *stats) done(p *pending) {
	if p.acked && len(p.waiting) == 0 {
		delete(s.byHash, p.hash)
		s.led.drop(p.hash)
	}
}

func (s *stats) fail(err error) {
	s.mu.Lock()
	s.errs++
	if s.firstErr == "" {
		s.firstErr = err.Error()
	}
	s.mu.Unlock()
}

// run sets the scenario up, runs it, prints the report and returns the
// measurements.
func run(ctx context.Context, c config) (*stats, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if c.editors == 0 || c.full {
		c.editors = c.fols
	}
	fmt.Printf("# synccap %+v\n", c)
	devs := make([]*device, c.devices)
	if err := parallel(c.devices, 16, func(i int) error {
		d, err := register(ctx, hc, c.url, model.UserID(fmt.Sprintf("%s%d", c.prefix, i)), i)
		if err != nil {
			return err
		}
		d.full = c.full
		devs[i] = d
		return nil
	}); err != nil {
		return nil, err
	}
	st := newStats()
	var watchers []*device // idle peers following documents on disk
	if c.docsFile != "" {
		pre := startMonitor(c.relayPID, c.url, c.adminToken)
		var err error
		watchers, err = follow(ctx, hc, c, st)
		pre.stop()
		if err != nil {
			return nil, err
		}
		defer func() {
			for _, f := range watchers {
				f.conn.C.CloseNow()
			}
		}()
	}
	if err := parallel(len(devs), 64, func(i int) error { return devs[i].connect(ctx, c, st) }); err != nil {
		return nil, err
	}
	// Own playlists, then the shared ones with their collaborators.
	if err := parallel(len(devs), 64, func(i int) error {
		_, err := devs[i].create(ctx, -1, nil)
		return err
	}); err != nil {
		return nil, err
	}
	followers := make([][]*device, c.shared)
	sharedDocs := make([]docs.DocumentID, c.shared)
	for s := range c.shared {
		for k := range c.fols {
			followers[s] = append(followers[s], devs[(s*c.editors+k)%len(devs)])
		}
	}
	if err := parallel(c.shared, 16, func(s int) error {
		var users []model.UserID
		for _, f := range followers[s][1:] {
			users = append(users, f.user)
		}
		id, err := followers[s][0].create(ctx, s, users)
		sharedDocs[s] = id
		return err
	}); err != nil {
		return nil, err
	}
	for s := range c.shared {
		for _, f := range followers[s][1:] {
			if err := f.follow(ctx, sharedDocs[s], s, slices.Index(followers[s], f) < c.editors); err != nil {
				return nil, err
			}
		}
	}
	// Wait until every follower holds its shared playlists.
	deadline := time.Now().Add(2 * time.Minute)
	for s := range c.shared {
		for _, f := range followers[s] {
			for !f.has(sharedDocs[s]) {
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("follower %s never received shared playlist %d", f.user, s)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	var idle []*peer.WSConn
	if c.docsFile == "" {
		var err error
		if idle, err = openIdle(ctx, c, devs); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, ic := range idle {
			ic.C.CloseNow()
		}
	}()
	fmt.Printf("# setup done: %d devices, %d shared playlists × %d followers, %d idle peers, %d idle peers following %d documents each\n", len(devs), c.shared, c.fols, len(idle), len(watchers), c.follow)
	st.devs = devs
	plan := schedule(c, devs, followers, sharedDocs)
	if c.replay {
		t := time.Now()
		if err := premakeAll(devs, plan); err != nil {
			return nil, err
		}
		fmt.Printf("# pre-made %d changes in %s\n", len(plan), time.Since(t).Round(time.Millisecond))
	}
	time.Sleep(2 * time.Second)

	mon := startMonitor(c.relayPID, c.url, c.adminToken)
	self := startSelfMonitor(st)
	cpu0, t0, own0, wire0 := mon.cpu(), time.Now(), ownCPU(), st.wire.snapshot()
	ectx, ecancel := context.WithTimeout(ctx, c.duration+drain)
	runEdits(ectx, c, plan, followers, sharedDocs, st)
	ecancel()
	// Let the last edits arrive.
	time.Sleep(2 * time.Second)
	cpu := mon.cpu() - cpu0
	wall := time.Since(t0)
	own := ownCPU() - own0
	wire1 := st.wire.snapshot()
	mon.stop()
	peakRSS := self.stop()

	st.mu.Lock()
	defer st.mu.Unlock()
	lost, lostFol := 0, 0
	for _, p := range st.byHash {
		if !p.acked {
			lost++
		}
		lostFol += len(p.waiting)
	}
	nAck, nFol := st.ack.count(), st.fol.count()
	fmt.Printf("offered %d edits in %s (%.0f/s); acknowledged %d (%.0f/s); unacknowledged at end %d; errors %d, of which relay refusals %d (first %q)\n",
		st.offered, c.duration, float64(st.offered)/c.duration.Seconds(), nAck, float64(nAck)/c.duration.Seconds(), lost, st.errs, st.refused, st.firstErr)
	if st.refused > 0 {
		fmt.Printf("first relay refusal: %s\n", st.firstRef)
	}
	fmt.Printf("edit→ack ms: p50 %.1f p99 %.1f max %.1f\n", st.ack.ms(.5), st.ack.ms(.99), st.ack.ms(1))
	fmt.Printf("edit→follower ms (%d deliveries, %d missing at end): p50 %.1f p99 %.1f max %.1f\n", nFol, lostFol, st.fol.ms(.5), st.fol.ms(.99), st.fol.ms(1))
	if c.relayPID > 0 {
		fmt.Printf("relay CPU %.2f cores over %s; %.1f µs per acknowledged edit; %.1f µs per delivered change (acks + follower deliveries)\n",
			cpu.Seconds()/wall.Seconds(), wall.Round(time.Millisecond), float64(cpu.Microseconds())/float64(max(1, nAck)),
			float64(cpu.Microseconds())/float64(max(1, nAck+nFol)))
	}
	w := wire1.since(wire0)
	perEdit := func(n int64) float64 { return float64(n) / float64(max(1, nAck)) }
	fmt.Printf("sync messages: relay→devices %d (%.1f per acknowledged edit), %d of them with changes, %.2f changes each; devices→relay %d (%.1f per acknowledged edit)\n",
		w.in, perEdit(w.in), w.inChanged, float64(w.inChanges)/float64(max(1, w.inChanged)), w.out, perEdit(w.out))
	v := verdict{cores: own.Seconds() / wall.Seconds(), lagP99: st.lag.quantile(.99)}
	fmt.Printf("generator CPU %.2f cores over %s; %.1f µs per offered edit, %.1f µs per delivered change; peak RSS %d MiB; schedule lag p99 %.1f ms max %.1f ms; edit→sent p99 %.1f ms; %s\n",
		v.cores, wall.Round(time.Millisecond), float64(own.Microseconds())/float64(max(1, st.offered)),
		float64(own.Microseconds())/float64(max(1, nAck+nFol)), peakRSS>>20,
		st.lag.ms(.99), st.lag.ms(1), st.send.ms(.99), v)
	return st, nil
}

// slot is one scheduled edit: the device that makes it and the
// document it edits.
type slot struct {
	d  *device
	id docs.DocumentID
}

// schedule returns the run's edits in order, one every 1/c.rate seconds
// for c.duration: each on a shared playlist with probability
// c.sharedFrac (by one of its first c.editors followers), else on a
// device's own playlist, from a fixed pseudo-random sequence.
func schedule(c config, devs []*device, followers [][]*device, shared []docs.DocumentID) []slot {
	period := time.Duration(float64(time.Second) / c.rate)
	var rnd uint64 = 0x9E3779B97F4A7C15
	next := func() uint64 { rnd ^= rnd << 13; rnd ^= rnd >> 7; rnd ^= rnd << 17; return rnd }
	var plan []slot
	for at := time.Duration(0); at < c.duration; at += period {
		if c.shared > 0 && float64(next()%1000)/1000 < c.sharedFrac {
			s := int(next() % uint64(c.shared))
			plan = append(plan, slot{d: followers[s][next()%uint64(c.editors)], id: shared[s]})
			continue
		}
		d := devs[next()%uint64(len(devs))]
		plan = append(plan, slot{d: d, id: d.own()})
	}
	return plan
}

// runEdits offers plan's edits at c.rate per second, each from a
// goroutine of its device (a device edits one at a time; an edit due
// while its device is busy waits).
func runEdits(ctx context.Context, c config, plan []slot, followers [][]*device, shared []docs.DocumentID, st *stats) {
	period := time.Duration(float64(time.Second) / c.rate)
	start := time.Now()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4096)
	for k, s := range plan {
		at := start.Add(time.Duration(k) * period)
		if ctx.Err() != nil {
			// The schedule fell so far behind that the run (edit phase
			// and drain) is over: the edits still due count as offered
			// and failed, without dispatching each.
			left := len(plan) - k
			st.mu.Lock()
			st.offered += left
			st.mu.Unlock()
			for range left {
				st.fail(errors.New("edit not dispatched by the end of the run"))
			}
			break
		}
		time.Sleep(time.Until(at))
		st.mu.Lock()
		st.offered++
		st.lag.record(time.Since(at))
		st.mu.Unlock()
		st.inflight.Add(1)
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem; st.inflight.Add(-1) }()
			if err := s.d.edit(ctx, at, s.id, followersOf(followers, shared, s.id), st); err != nil {
				st.fail(err)
			}
		})
	}
	wg.Wait()
}

func followersOf(followers [][]*device, shared []docs.DocumentID, id docs.DocumentID) []*device {
	for s, sid := range shared {
		if sid == id {
			return followers[s]
		}
	}
	return nil
}

func register(ctx context.Context, hc *http.Client, url string, user model.UserID, i int) (*device, error) {
	const pw = "synccap-password"
	// An account left by an earlier run on the same data directory
	// (scenario d's owners) is used as it is: 409 Conflict.
	if err := post(ctx, hc, url+"/v1/accounts", api.AccountRequest{Username: string(user), Password: pw}, nil); err != nil && !errors.Is(err, errConflict) {
		return nil, fmt.Errorf("sign up %s: %w", user, err)
	}
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		return nil, err
	}
	issued := time.Now().Truncate(time.Second)
	sp, hp := id.SignPublic(), id.HPKEPublic()
	req := api.RegisterRequest{Username: string(user), Password: pw, Name: "synccap", SignPub: sp, HPKEPub: hp, Issued: issued.Unix(),
		Sig: id.Sign(crypto.DeviceProofMessage(string(user), "synccap", sp, hp, issued))}
	var out api.RegisterResponse
	if err := post(ctx, hc, url+"/v1/devices", req, &out); err != nil {
		return nil, fmt.Errorf("register %s: %w", user, err)
	}
	return &device{n: i, user: user, peerID: string(user) + "-dev", token: out.Token, docs: map[docs.DocumentID]*doc{}}, nil
}

// post sends in as JSON and decodes a 2xx answer into out. A 429 or 503
// (the relay's password-check gate: too many checks from one address) is
// retried after its Retry-After, at most 100 times: registration is set-up,
// not what the benchmark measures.
func post(ctx context.Context, hc *http.Client, url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		if (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable) && attempt < 100 {
			wait := 100 * time.Millisecond
			if sec, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && sec > 0 {
				wait = time.Duration(sec) * time.Second
			}
			resp.Body.Close()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusConflict {
			return fmt.Errorf("%s: %w", url, errConflict)
		}
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
		}
		if out != nil {
			return json.NewDecoder(resp.Body).Decode(out)
		}
		return nil
	}
}

func dial(ctx context.Context, c config, token, peerID string, meta wire.PeerMetadata) (*peer.WSConn, error) {
	u := "ws" + strings.TrimPrefix(c.url, "http") + "/v1/sync?token=" + token
	wc, resp, err := peer.DialWebSocket(ctx, u, &websocket.DialOptions{CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		if resp != nil && resp.Body != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			resp.Body.Close()
			return nil, fmt.Errorf("%w (HTTP %d, Retry-After %q: %q)", err, resp.StatusCode, resp.Header.Get("Retry-After"), body)
		}
		return nil, err
	}
	wc.SetReadLimit(wire.MaxFrameSize)
	conn := peer.NewWSConn(wc, 0)
	if _, err := peer.ClientHandshake(ctx, conn, peerID, meta); err != nil {
		wc.CloseNow()
		return nil, err
	}
	return conn, nil
}

func (d *device) connect(ctx context.Context, c config, st *stats) error {
	conn, err := dial(ctx, c, d.token, d.peerID, wire.PeerMetadata{StorageID: d.peerID + "-store"})
	if err != nil {
		return fmt.Errorf("connect %s: %w", d.user, err)
	}
	d.conn = conn
	d.wake, d.closed = make(chan struct{}, 1), make(chan struct{})
	go d.write(st)
	go d.read(ctx, st)
	return nil
}

// outgoing is one message in a device's send queue; ctx bounds it (an
// edit's: the edit phase and its drain), due is an edit's scheduled
// time (zero for other messages), and sent, when not nil, receives the
// outcome once the message is written or dropped.
type outgoing struct {
	ctx  context.Context
	m    *wire.Message
	due  time.Time
	sent chan error
}

// enqueue queues m for d's writer. Callers generating sync messages
// hold d.mu, so the queue keeps their order.
func (d *device) enqueue(o outgoing) {
	d.outMu.Lock()
	d.out = append(d.out, o)
	d.outMu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// write sends d's queued messages in order until the connection's
// reader ends. A device reads and writes independently, as a real
// client does: when both sides' socket buffers are full (a relay with a
// backlog sending catch-up messages while the device answers), a reader
// that waited for its own write would stop reading, and the relay,
// waiting to write to it, would stop reading too — both stuck for good.
func (d *device) write(st *stats) {
	for {
		select {
		case <-d.wake:
		case <-d.closed:
			return
		}
		for {
			d.outMu.Lock()
			batch := d.out
			d.out = nil
			d.outMu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, o := range batch {
				err := o.ctx.Err()
				if err != nil {
					err = fmt.Errorf("edit not sent by the end of the run: %w", err)
				} else if err = d.conn.Send(o.ctx, o.m); err == nil && o.m.Type == wire.TypeSync {
					st.wire.out.Add(1)
				}
				if err == nil && !o.due.IsZero() {
					st.mu.Lock()
					st.send.record(time.Since(o.due))
					st.mu.Unlock()
				}
				if o.sent != nil {
					o.sent <- err
				} else if err != nil {
					st.fail(err)
				}
			}
		}
	}
}

// read applies every message from the relay, answers it, and records
// acks and follower deliveries.
func (d *device) read(ctx context.Context, st *stats) {
	defer close(d.closed)
	for {
		m, err := d.conn.Recv(ctx)
		if err != nil {
			return
		}
		if m.Type == wire.TypeSync {
			st.wire.countIn(m.Data)
		}
		if m.Type != wire.TypeSync {
			if m.Type == wire.TypeError {
				st.mu.Lock()
				st.refused++
				if st.firstRef == "" {
					st.firstRef = m.Message
				}
				st.mu.Unlock()
				st.fail(fmt.Errorf("relay error to %s: %s", d.user, m.Message))
			}
			continue
		}
		id, err := docs.ParseDocumentID(m.DocumentID)
		if err != nil {
			continue
		}
		now := time.Now()
		d.mu.Lock()
		dd := d.docs[id]
		if dd == nil {
			d.mu.Unlock()
			continue
		}
		heads, got, err := dd.receive(m.Data, &st.led)
		top := dd.lastPremadeIn(heads, got)
		d.mu.Unlock()
		if err != nil {
			st.fail(err)
			continue
		}
		st.mu.Lock()
		keep := d.unacked[:0]
		for _, p := range d.unacked {
			// The relay's heads include the edit, or a change it sent
			// depends on it, or (pre-made) they include a later change
			// of the edit's chain: the relay holds it, durably.
			if slices.Contains(heads, p.hash) || slices.Contains(got, p.hash) || p.seq >= 0 && p.doc == id && p.seq <= top {
				p.acked = true
				st.ack.record(now.Sub(p.at))
				st.secAck = max(st.secAck, now.Sub(p.at))
				st.done(p)
				continue
			}
			keep = append(keep, p)
		}
		d.unacked = keep
		for _, h := range got {
			if p := st.byHash[h]; p != nil && p.waiting[d] {
				delete(p.waiting, d)
				st.fol.record(now.Sub(p.at))
				st.secFol = max(st.secFol, now.Sub(p.at))
				st.done(p)
			}
		}
		st.mu.Unlock()
		d.flush(ctx, dd, time.Time{}, nil)
	}
}

// receive takes one sync message from the relay into dd and returns
// the relay's heads and the changes the message carried with their
// dependencies; led has the run's edits. Caller holds d.mu.
func (dd *doc) receive(data []byte, led *ledger) (heads, got []automerge.ChangeHash, err error) {
	if dd.ss != nil {
		sm, err := dd.ss.ReceiveMessage(data)
		if err != nil {
			return nil, nil, err
		}
		chs := sm.Changes()
		for _, ch := range chs {
			h := ch.Hash()
			if e, ok := led.get(h); ok {
				dd.last = max(dd.last, e.pos)
			}
			got = append(got, h)
			got = append(got, ch.Dependencies()...)
		}
		heads = sm.Heads()
		automerge.CloseChanges(chs) // the generator frees as the relay does
		sm.Close()
		return heads, got, nil
	}
	m, err := msync.DecodeMessage(data)
	if err != nil {
		return nil, nil, err
	}
	if err := msync.Receive(dd.g, dd.ms, m, func(m *msync.Message) error { return dd.take(m, led) }); err != nil {
		return nil, nil, err
	}
	msync.AskForSkipped(dd.g, dd.ms, m)
	for _, c := range m.Changes {
		got = append(got, c.Hash)
		got = append(got, c.Deps...)
	}
	return m.Heads, got, nil
}

// take is msync.Receive's apply function for a graph replica: each
// change whose dependencies are held joins the graph (and the chunks
// the document will load), the others wait for theirs, as automerge's
// queue does. A change of the run's edits is kept as led's chunk (the
// same bytes), and its entry's position raises dd.last.
func (dd *doc) take(m *msync.Message, led *ledger) error {
	if dd.arrived != nil {
		defer func(n int) {
			if dd.g.Len() > n {
				close(dd.arrived)
				dd.arrived = nil
			}
		}(dd.g.Len())
	}
	for i, c := range m.Changes {
		if dd.g.Has(c.Hash) {
			continue
		}
		if e, ok := led.get(c.Hash); ok {
			if bytes.Equal(e.raw, m.Raw[i]) {
				m.Raw[i] = e.raw
			}
			dd.last = max(dd.last, e.pos)
		}
		if !slices.ContainsFunc(c.Deps, func(d automerge.ChangeHash) bool { return !dd.g.Has(d) }) {
			dd.g.Add(c, m.Raw[i])
			if dd.am != nil {
				dd.unapplied = append(dd.unapplied, m.Raw[i])
			}
			continue
		}
		if dd.queued == nil {
			dd.queued = map[automerge.ChangeHash]queuedChange{}
		}
		dd.queued[c.Hash] = queuedChange{c: c, raw: m.Raw[i]}
		dd.g.Queue(c)
	}
	for progress := true; progress && len(dd.queued) > 0; {
		progress = false
		for h, q := range dd.queued {
			if !slices.ContainsFunc(q.c.Deps, func(d automerge.ChangeHash) bool { return !dd.g.Has(d) }) {
				dd.g.Add(q.c, q.raw)
				if dd.am != nil {
					dd.unapplied = append(dd.unapplied, q.raw)
				}
				delete(dd.queued, h)
				progress = true
			}
		}
	}
	return nil
}

// catchUp loads into dd's automerge document the changes its graph
// received since the last edit, in one call (a follower that does not
// edit holds no document and no such changes). Caller holds d.mu.
func (dd *doc) catchUp() error {
	if len(dd.unapplied) == 0 {
		return nil
	}
	// The chunks reach automerge as one sync message's changes, applied
	// as automerge's own receive applies them (automerge-go's
	// LoadChanges reads loose chunks only as a whole document).
	sm, err := automerge.LoadSyncMessage((&msync.Message{Raw: dd.unapplied}).Encode())
	if err != nil {
		return fmt.Errorf("load received changes: %w", err)
	}
	err = dd.am.Apply(sm.Changes()...)
	sm.Close()
	if err != nil {
		return fmt.Errorf("apply received changes: %w", err)
	}
	dd.unapplied = dd.unapplied[:0]
	return nil
}

// committed records in dd's graph the change hash the device just made
// on its automerge document, which must depend on the graph's heads
// and on nothing the graph lacks (the document and the graph hold the
// same changes), and returns its chunk. Caller holds d.mu.
func (dd *doc) committed(hash automerge.ChangeHash) ([]byte, error) {
	ch, err := dd.am.Change(hash)
	if err != nil {
		return nil, fmt.Errorf("read own change: %w", err)
	}
	raw := ch.Save()
	automerge.CloseChanges([]*automerge.Change{ch})
	c, err := msync.ParseChange(raw)
	if err != nil {
		return nil, fmt.Errorf("parse own change: %w", err)
	}
	// automerge makes a change depend on the document's heads and on
	// its actor's previous change (an ancestor of the heads here).
	for _, h := range dd.g.Heads() {
		if !slices.Contains(c.Deps, h) {
			return nil, fmt.Errorf("own change does not depend on the graph's head %s", h)
		}
	}
	for _, h := range c.Deps {
		if !dd.g.Has(h) {
			return nil, fmt.Errorf("own change depends on %s, which the graph lacks", h)
		}
	}
	dd.g.Add(c, raw)
	return raw, nil
}

// held reports whether the device holds any of the document.
func (dd *doc) held() bool {
	if dd.g != nil {
		return dd.g.Len() > 0
	}
	return len(dd.am.Heads()) > 0
}

// next returns dd's next sync message, if any. Caller holds d.mu.
func (dd *doc) next() ([]byte, bool, error) {
	if dd.ss != nil {
		sm, ok := dd.ss.GenerateMessage()
		if !ok {
			return nil, false, nil
		}
		data := sm.Bytes()
		sm.Close()
		return data, true, nil
	}
	m, err := msync.Generate(dd.g, dd.ms)
	if m == nil || err != nil {
		return nil, false, err
	}
	return m.Encode(), true, nil
}

// newDoc returns the device's replica of document id held in am (new or
// empty), with a fresh sync state of the device's kind. A nil am (a
// device with change graphs that follows and does not edit the
// document) keeps the change graph only.
func (d *device) newDoc(id docs.DocumentID, am *automerge.Doc, s int) (*doc, error) {
	dd := &doc{id: id, am: am, shared: s}
	if d.full {
		dd.ss = automerge.NewSyncState(am)
		return dd, nil
	}
	if am == nil {
		dd.g, dd.ms = msync.NewGraph(), &msync.State{}
		return dd, nil
	}
	g, err := msync.Index(am)
	if err != nil {
		return nil, err
	}
	dd.g, dd.ms = g, &msync.State{}
	return dd, nil
}

// flush queues the next sync message of dd, if any, for d's writer and
// reports whether it did; due is an edit's scheduled time (zero
// otherwise), sent as outgoing's.
func (d *device) flush(ctx context.Context, dd *doc, due time.Time, sent chan error) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	data, ok, err := dd.next()
	if err != nil {
		fmt.Fprintln(os.Stderr, "synccap: generate a sync message:", err)
	}
	if !ok {
		return false
	}
	d.enqueue(outgoing{ctx: ctx, due: due, sent: sent, m: &wire.Message{Type: wire.TypeSync, SenderID: d.peerID, TargetID: "relay", DocumentID: dd.id.String(), Data: data}})
	return true
}

// create makes a playlist (shared index s, or -1 for the device's own)
// with collaborators and syncs it to the relay.
func (d *device) create(ctx context.Context, s int, collaborators []model.UserID) (docs.DocumentID, error) {
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		return id, err
	}
	am := automerge.New()
	pl, err := docs.CreatePlaylist(am, d.user, "synccap", docs.DefaultOptions())
	if err != nil {
		return id, err
	}
	if len(collaborators) > 0 {
		if err := pl.SetCollaborators(collaborators...); err != nil {
			return id, err
		}
	}
	dd, err := d.newDoc(id, am, s)
	if err != nil {
		return id, err
	}
	d.mu.Lock()
	d.docs[id] = dd
	d.mu.Unlock()
	d.flush(ctx, dd, time.Time{}, nil)
	return id, nil
}

// follow asks the relay for a shared playlist the device does not hold;
// an editor keeps an automerge document of it, the other followers (with
// change graphs) the change graph only.
func (d *device) follow(ctx context.Context, id docs.DocumentID, s int, editor bool) error {
	var am *automerge.Doc
	if editor || d.full {
		am = automerge.New()
	}
	dd, err := d.newDoc(id, am, s)
	if err != nil {
		return err
	}
	d.mu.Lock()
	d.docs[id] = dd
	data, _, err := dd.next()
	if err != nil {
		d.mu.Unlock()
		return err
	}
	d.enqueue(outgoing{ctx: ctx, m: &wire.Message{Type: wire.TypeRequest, SenderID: d.peerID, TargetID: "relay", DocumentID: id.String(), Data: data}})
	d.mu.Unlock()
	return nil
}

func (d *device) has(id docs.DocumentID) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	dd := d.docs[id]
	return dd != nil && dd.held()
}

func (d *device) own() docs.DocumentID {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, dd := range d.docs {
		if dd.shared < 0 {
			return id
		}
	}
	return docs.DocumentID{}
}

// edit appends a track to id, registers the edit as pending and sends it.
// Latencies count from due, the edit's scheduled time, so an edit delayed
// by a relay that pushes back is measured from when it was offered.
func (d *device) edit(ctx context.Context, due time.Time, id docs.DocumentID, followers []*device, st *stats) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("edit not sent by the end of the run: %w", err)
	}
	d.mu.Lock()
	dd := d.docs[id]
	var hash automerge.ChangeHash
	var raw []byte
	var pos string
	seq := -1
	if d.replay {
		for ch := dd.depsWait(); ch != nil; ch = dd.depsWait() {
			d.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return fmt.Errorf("edit not sent by the end of the run: waiting for its dependencies: %w", ctx.Err())
			case <-d.closed:
				return fmt.Errorf("edit of %s not sent: connection closed", d.user)
			}
			d.mu.Lock()
		}
		p, err := dd.nextPremade()
		if err != nil {
			d.mu.Unlock()
			return err
		}
		hash, raw, pos, seq = p.c.Hash, p.raw, p.pos, dd.preSeq[p.c.Hash]
	} else {
		var err error
		if hash, raw, pos, err = dd.commitEdit(d.user, due); err != nil {
			d.mu.Unlock()
			return err
		}
	}
	d.mu.Unlock()
	st.led.put(hash, raw, pos)
	p := &pending{at: due, hash: hash, waiting: map[*device]bool{}, doc: id, seq: seq}
	for _, f := range followers {
		if f != d {
			p.waiting[f] = true
		}
	}
	st.mu.Lock()
	st.byHash[p.hash] = p
	d.unacked = append(d.unacked, p)
	st.mu.Unlock()
	sent := make(chan error, 1)
	if !d.flush(ctx, dd, due, sent) {
		return nil
	}
	select {
	case err := <-sent:
		return err
	case <-d.closed:
		return fmt.Errorf("edit of %s not sent: connection closed", d.user)
	}
}

// commitEdit makes the device's edit of dd on its automerge document
// (after loading the changes received since its last edit), by user,
// adding a track named after due, and returns the change's hash, its
// chunk (nil for a replica without a change graph) and the entry's
// position. Caller holds d.mu.
func (dd *doc) commitEdit(user model.UserID, due time.Time) (automerge.ChangeHash, []byte, string, error) {
	if err := dd.catchUp(); err != nil {
		return automerge.ChangeHash{}, nil, "", err
	}
	pos, err := appendEntry(dd.am, dd.last, user, model.TrackID("t"+strconv.FormatInt(due.UnixNano(), 36)), time.Now(), rand.Reader)
	if err != nil {
		return automerge.ChangeHash{}, nil, "", err
	}
	dd.last = pos
	heads := dd.am.Heads() // a local commit depends on every head: it is the only one now
	if len(heads) != 1 {
		return automerge.ChangeHash{}, nil, "", fmt.Errorf("%d heads after a local commit", len(heads))
	}
	var raw []byte
	if dd.g != nil {
		if raw, err = dd.committed(heads[0]); err != nil {
			return automerge.ChangeHash{}, nil, "", err
		}
	}
	return heads[0], raw, pos, nil
}

// openIdle connects n idle peers with the devices' tokens in turn
// (ephemeral peers: nothing of them persists on the relay). Spread over
// the accounts, they stay within the relay's sync connections per
// account (segue relay --sync-max-sessions-per-user, 256 by default: the
// presets' 10,000 idle peers over 100 devices are 100 each); with fewer
// devices raise that flag on the relay.
func openIdle(ctx context.Context, c config, devs []*device) ([]*peer.WSConn, error) {
	out := make([]*peer.WSConn, c.idle)
	err := parallel(c.idle, 64, func(i int) error {
		dev := devs[i%len(devs)]
		conn, err := dial(ctx, c, dev.token, fmt.Sprintf("%s-idle%d", dev.user, i), wire.PeerMetadata{IsEphemeral: true})
		if err != nil {
			return err
		}
		out[i] = conn
		go readIdle(ctx, conn)
		return nil
	})
	return out, err
}

// readIdle reads an idle peer's connection until it ends, as a device's
// session does: reading answers the relay's keepalive pings (segue relay
// --sync-keepalive), which close a peer that does not answer.
func readIdle(ctx context.Context, conn *peer.WSConn) {
	for {
		if _, err := conn.Recv(ctx); err != nil {
			return
		}
	}
}

// parallel runs fn(0..n-1) with at most k at once and returns the first
// error.
func parallel(n, k int, fn func(i int) error) error {
	var wg sync.WaitGroup
	var first atomic.Value
	sem := make(chan struct{}, k)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				first.CompareAndSwap(nil, err)
			}
		})
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

// ownCPU returns the CPU time (user + system) the generator has used.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
