package relaysync_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cputime"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// capacityConfig is BenchmarkRelayCapacity's load, from the environment:
// SEGUE_CAP_IDLE idle peers (default 10,000), SEGUE_CAP_ACTIVE active
// peers (default 1,000), SEGUE_CAP_RATE edits per second per active
// peer (default 1), SEGUE_CAP_DURATION of the active phase (default
// 20s), SEGUE_CAP_COMPRESSION permessage-deflate on the peers' side
// (default 1, as devices dial; the relay always offers it),
// SEGUE_CAP_TAKEOVER=1 the relay's permessage-deflate context takeover
// (default 0, as DefaultOptions), SEGUE_CAP_HEAPPROFILE a file for the
// relay process's heap profile at the end, SEGUE_CAP_CPUPROFILE a file
// for its CPU profile of the active phase.
type capacityConfig struct {
	idle, active int
	rate         float64
	duration     time.Duration
	compression  bool
	takeover     bool
	heapProfile  string
	cpuProfile   string
}

func capacityFromEnv(b testing.TB) capacityConfig {
	c := capacityConfig{idle: 10_000, active: 1_000, rate: 1, duration: 20 * time.Second, compression: true}
	num := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 100_000 {
				b.Fatalf("%s=%q: want 0…100000", name, v)
			}
			*dst = n
		}
	}
	num("SEGUE_CAP_IDLE", &c.idle)
	num("SEGUE_CAP_ACTIVE", &c.active)
	if v := os.Getenv("SEGUE_CAP_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 || r > 50 {
			b.Fatalf("SEGUE_CAP_RATE=%q: want 0 < rate ≤ 50", v)
		}
		c.rate = r
	}
	if v := os.Getenv("SEGUE_CAP_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 5*time.Minute {
			b.Fatalf("SEGUE_CAP_DURATION=%q: want 0 < d ≤ 5m", v)
		}
		c.duration = d
	}
	c.compression = os.Getenv("SEGUE_CAP_COMPRESSION") != "0"
	c.takeover = os.Getenv("SEGUE_CAP_TAKEOVER") == "1"
	c.heapProfile = os.Getenv("SEGUE_CAP_HEAPPROFILE")
	c.cpuProfile = os.Getenv("SEGUE_CAP_CPUPROFILE")
	return c
}

var discardLog = slog.New(slog.DiscardHandler)

// sourceAddrs are the loopback source addresses the peers dial from, in
// turn: each gives its own ≈28k ephemeral ports towards the relay.
var sourceAddrs = []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}

// BenchmarkRelayCapacity holds idle and active automerge-repo WebSocket
// peers on one relay endpoint (real Badger on disk, real HTTP server on
// 127.0.0.1 in this process). The peers run in a second process, this
// test binary re-executed (TestCapacityLoadHelper), so the relay's
// figures are its own and each process needs one descriptor per
// connection: the box's RLIMIT_NOFILE hard limit (20,000 here, which an
// unprivileged container cannot raise) would not fit both ends of 11,000
// connections in one process. The load process opens the idle peers
// (WebSocket upgrade + join/peer handshake, then nothing), then runs the
// active peers, each editing its own playlist at a fixed rate and
// syncing every edit, for a bounded duration. Reported: peers held by
// the relay, relay memory per idle peer (RSS, Go heap+stacks,
// goroutines), and the sync round trip of active peers (edit → relay
// applied and persisted it and answered with heads that include it)
// p50/p99/max, plus errors. One bounded scenario per iteration; run it
// with -benchtime=1x. Not part of the normal test run (benchmark only).
func BenchmarkRelayCapacity(b *testing.B) {
	cfg := capacityFromEnv(b)
	for range b.N {
		runCapacity(b, cfg)
	}
}

const capEnvURL = "SEGUE_CAP_URL"

func runCapacity(b *testing.B, cfg capacityConfig) {
	raiseNoFile(b, uint64(cfg.idle+cfg.active+4096))
	ctx, cancel := context.WithTimeout(b.Context(), cfg.duration+5*time.Minute)
	defer cancel()

	st, err := badgerstore.Open(ctx, b.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	r, err := repo.Open(ctx, st, repo.DefaultOptions().WithLogger(discardLog).WithContentCheck(docs.CheckContent))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ep := relaysync.New(peer.NewRepoAdapter(r), st, peer.DocumentAccess, relaysync.DefaultOptions().
		WithLogger(discardLog).WithContextTakeover(cfg.takeover).WithAuthenticator(func(r *http.Request) (model.UserID, error) {
		if u := r.URL.Query().Get("token"); u != "" {
			return model.UserID(u), nil
		}
		return "", relaysync.ErrUnauthenticated
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: ep, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	defer hs.Close()

	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^TestCapacityLoadHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), capEnvURL+"=ws://"+ln.Addr().String()+"/v1/sync")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	base := sample()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer in.Close()
	out := bufio.NewScanner(outPipe)
	out.Buffer(nil, 1<<20)
	expect := func(prefix string) []string {
		for out.Scan() {
			if rest, ok := strings.CutPrefix(out.Text(), prefix+" "); ok {
				return strings.SplitN(rest, " ", 6)
			}
		}
		b.Fatalf("load process ended before %q", prefix)
		return nil
	}
	f := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatalf("load process: %q: %v", s, err)
		}
		return v
	}

	idle := expect("IDLE") // held dialErrors seconds firstError
	time.Sleep(time.Second)
	afterIdle := sample()
	heldIdle := ep.Peers()
	fmt.Fprintln(in, "ACTIVE")
	expect("READY")
	heldAll := ep.Peers()
	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	cpu0 := cpuTime()
	fmt.Fprintln(in, "RUN")
	res := expect("RESULT") // edits errors p50 p99 max firstError
	cpuActive := cpuTime() - cpu0
	if cfg.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	afterActive := sample()
	notified := ep.Notified()
	if cfg.heapProfile != "" {
		if f, err := os.Create(cfg.heapProfile); err != nil {
			b.Error(err)
		} else {
			if err := pprof.WriteHeapProfile(f); err != nil {
				b.Error(err)
			}
			f.Close()
		}
	}

	per := func(a, b float64) float64 {
		if heldIdle == 0 {
			return 0
		}
		return (b - a) / float64(heldIdle)
	}
	b.ReportMetric(float64(heldIdle), "idle-held")
	b.ReportMetric(float64(heldAll-heldIdle), "active-held")
	b.ReportMetric(f(idle[1]), "idle-dial-errors")
	b.ReportMetric(per(float64(base.rss), float64(afterIdle.rss))/1024, "RSS-KiB/idle")
	b.ReportMetric(per(float64(base.heap), float64(afterIdle.heap))/1024, "heap-KiB/idle")
	b.ReportMetric(per(float64(base.goroutines), float64(afterIdle.goroutines)), "goroutines/idle")
	b.ReportMetric(f(idle[2]), "s-open-idle")
	b.ReportMetric(f(res[0]), "edits")
	b.ReportMetric(f(res[1]), "edit-errors")
	b.ReportMetric(f(res[2]), "p50-ms")
	b.ReportMetric(f(res[3]), "p99-ms")
	b.ReportMetric(f(res[4]), "max-ms")
	b.ReportMetric(float64(afterActive.rss)/(1<<20), "relay-RSS-MiB-end")
	b.ReportMetric(float64(afterActive.heap)/(1<<20), "relay-heap-MiB-end")
	if n := f(res[0]); n > 0 {
		b.ReportMetric(float64(notified)/n, "wakeups/edit")
		b.ReportMetric(float64(cpuActive.Microseconds())/n, "relay-CPU-µs/edit")
	}
	b.Logf("relay: idle %d/%d held (dial errors %s, first %q), active %d/%d; edits %s errors %s (first %q); relay RSS %d → %d → %d MiB, heap %d → %d MiB, goroutines %d → %d",
		heldIdle, cfg.idle, idle[1], idle[3], heldAll-heldIdle, cfg.active, res[0], res[1], res[5],
		base.rss>>20, afterIdle.rss>>20, afterActive.rss>>20, base.heap>>20, afterIdle.heap>>20, base.goroutines, afterIdle.goroutines)
}

// TestCapacityLoadHelper is the load process of BenchmarkRelayCapacity,
// skipped unless started by it. It talks to the benchmark over stdio:
// it opens the idle peers and prints "IDLE held dialErrors seconds
// firstError"; on "ACTIVE" it connects the active peers and prints
// "READY n"; on "RUN" it runs them and prints "RESULT edits errors
// p50ms p99ms maxms firstError"; it exits when stdin closes.
func TestCapacityLoadHelper(t *testing.T) {
	url := os.Getenv(capEnvURL)
	if url == "" {
		t.Skip("load process of BenchmarkRelayCapacity")
	}
	cfg := capacityFromEnv(t)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration+4*time.Minute)
	defer cancel()
	stdin := bufio.NewScanner(os.Stdin)
	waitFor := func(word string) {
		for stdin.Scan() {
			if stdin.Text() == word {
				return
			}
		}
		t.Fatalf("stdin closed before %q", word)
	}

	var next atomic.Uint64
	dialer := func(ctx context.Context, network, addr string) (net.Conn, error) {
		src := sourceAddrs[next.Add(1)%uint64(len(sourceAddrs))]
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		return d.DialContext(ctx, network, addr)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: dialer}}
	mode := websocket.CompressionDisabled
	if cfg.compression {
		mode = websocket.CompressionContextTakeover
	}
	connect := func(ctx context.Context, user string) (*peer.WSConn, error) {
		c, _, err := websocket.Dial(ctx, url+"?token="+user, &websocket.DialOptions{CompressionMode: mode, HTTPClient: hc})
		if err != nil {
			return nil, err
		}
		conn := peer.NewWSConn(c, 0)
		if _, err := peer.ClientHandshake(ctx, conn, user+"-dev", wire.PeerMetadata{StorageID: user + "-store"}); err != nil {
			c.CloseNow()
			return nil, err
		}
		return conn, nil
	}

	// Idle peers: dial with bounded concurrency (the listen backlog and
	// the handshake are the limits), keep them open, never read.
	var (
		idleMu   sync.Mutex
		idle     []*peer.WSConn
		dialErrs atomic.Int64
		firstErr atomic.Value
	)
	firstErr.Store("")
	t0 := time.Now()
	dctx, dcancel := context.WithTimeout(ctx, 2*time.Minute)
	work := make(chan int)
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				conn, err := connect(dctx, fmt.Sprintf("idle%d", i))
				if err != nil {
					dialErrs.Add(1)
					firstErr.CompareAndSwap("", err.Error())
					continue
				}
				idleMu.Lock()
				idle = append(idle, conn)
				idleMu.Unlock()
			}
		}()
	}
	for i := range cfg.idle {
		if dctx.Err() != nil {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	dcancel()
	defer func() {
		for _, c := range idle {
			c.C.CloseNow()
		}
	}()
	fmt.Printf("IDLE %d %d %.3f %s\n", len(idle), dialErrs.Load(), time.Since(t0).Seconds(), oneLine(firstErr.Load().(string)))
	waitFor("ACTIVE")

	// Active peers: each owns a playlist (its own user), syncs it once,
	// then edits and syncs at cfg.rate until the deadline.
	type result struct {
		lat  []time.Duration
		errs int
		err  string
	}
	results := make([]result, cfg.active)
	ready := make(chan bool, cfg.active)
	start := make(chan struct{})
	var awg sync.WaitGroup
	for i := range cfg.active {
		awg.Add(1)
		go func() {
			defer awg.Done()
			res := &results[i]
			fail := func(err error) {
				res.errs++
				if res.err == "" {
					res.err = err.Error()
				}
			}
			ap, err := newActivePeer(ctx, connect, fmt.Sprintf("act%d", i))
			ready <- err == nil
			if err != nil {
				fail(err)
				return
			}
			defer ap.conn.C.CloseNow()
			<-start
			rng := mrand.New(mrand.NewPCG(uint64(i), 42))
			period := time.Duration(float64(time.Second) / cfg.rate)
			// Spread the peers' phases over one period.
			timer := time.NewTimer(time.Duration(rng.Int64N(int64(period))))
			defer timer.Stop()
			end := time.Now().Add(cfg.duration)
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-timer.C:
				}
				if time.Now().After(end) {
					return
				}
				due := time.Now().Add(period)
				d, err := ap.editAndSync(ctx, n)
				if err != nil {
					fail(err)
				} else {
					res.lat = append(res.lat, d)
				}
				timer.Reset(max(time.Until(due), 0))
			}
		}()
	}
	connected := 0
	for range cfg.active {
		if <-ready {
			connected++
		}
	}
	fmt.Printf("READY %d\n", connected)
	waitFor("RUN")
	close(start)
	awg.Wait()

	var lat []time.Duration
	errs := 0
	first := ""
	for _, r := range results {
		lat = append(lat, r.lat...)
		errs += r.errs
		if first == "" {
			first = r.err
		}
	}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return math.NaN()
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / 1e6
	}
	fmt.Printf("RESULT %d %d %.3f %.3f %.3f %s\n", len(lat), errs, pct(0.50), pct(0.99), pct(1), oneLine(first))
	for stdin.Scan() { // until the benchmark closes stdin
	}
}

// oneLine makes an error message a single space-free token for the
// stdio protocol ("-" when empty).
func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Join(strings.Fields(s), "_")
}

// activePeer is a minimal automerge-repo device: one playlist and its
// sync state with the relay.
type activePeer struct {
	user string
	conn *peer.WSConn
	id   docs.DocumentID
	doc  *automerge.Doc
	pl   *docs.Playlist
	ss   *automerge.SyncState
}

func newActivePeer(ctx context.Context, connect func(context.Context, string) (*peer.WSConn, error), user string) (*activePeer, error) {
	conn, err := connect(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	doc := automerge.New()
	pl, err := docs.CreatePlaylist(doc, model.UserID(user), "load", docs.DefaultOptions())
	if err != nil {
		return nil, err
	}
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		return nil, err
	}
	ap := &activePeer{user: user, conn: conn, id: id, doc: doc, pl: pl, ss: automerge.NewSyncState(doc)}
	if _, err := ap.sync(ctx, time.Now()); err != nil {
		conn.C.CloseNow()
		return nil, fmt.Errorf("first sync: %w", err)
	}
	return ap, nil
}

// editAndSync appends one track and syncs; it returns the time from the
// edit until the relay answered with heads including it.
func (ap *activePeer) editAndSync(ctx context.Context, n int) (time.Duration, error) {
	t0 := time.Now()
	if _, err := ap.pl.Add(docs.AtEnd(), model.UserID(ap.user), model.TrackID(fmt.Sprintf("t%d", n))); err != nil {
		return 0, err
	}
	return ap.sync(ctx, t0)
}

// sync sends what the relay lacks and reads its answers until the
// relay's heads include the document's heads (5 s at most); it returns
// the time since t0.
func (ap *activePeer) sync(ctx context.Context, t0 time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	want := ap.doc.Heads()
	for {
		if m, ok := ap.ss.GenerateMessage(); ok {
			if err := ap.conn.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: ap.user + "-dev", TargetID: "relay",
				DocumentID: ap.id.String(), Data: m.Bytes()}); err != nil {
				return 0, err
			}
		}
		m, err := ap.conn.Recv(ctx)
		if err != nil {
			return 0, err
		}
		if m.Type != wire.TypeSync {
			return 0, fmt.Errorf("relay answered %s", m.Type)
		}
		sm, err := ap.ss.ReceiveMessage(m.Data)
		if err != nil {
			return 0, err
		}
		if hasAll(sm.Heads(), want) {
			return time.Since(t0), nil
		}
	}
}

func hasAll(have, want []automerge.ChangeHash) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// memSample is the process's memory and goroutines after a GC.
type memSample struct {
	rss, heap  uint64
	goroutines int
}

func sample() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSample{rss: rssBytes(), heap: ms.HeapInuse + ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// cpuTime is the process's user + system CPU time so far.
func cpuTime() time.Duration {
	d, _ := cputime.Process()
	return d
}

// rssBytes reads VmRSS from /proc/self/status (0 when unavailable).
func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err == nil {
				return kb * 1024
			}
		}
	}
	return 0
}

// raiseNoFile lifts RLIMIT_NOFILE to at least n (both limits; raising
// the hard limit needs CAP_SYS_RESOURCE, otherwise the soft limit goes
// as high as the hard one allows).
func raiseNoFile(b *testing.B, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		b.Fatal(err)
	}
	if lim.Cur >= n {
		return
	}
	want := syscall.Rlimit{Cur: n, Max: max(n, lim.Max)}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		want = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		if err2 := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err2 != nil {
			b.Fatal(errors.Join(err, err2))
		}
		b.Logf("RLIMIT_NOFILE: hard limit %d < %d wanted (%v)", lim.Max, n, err)
	}
}
