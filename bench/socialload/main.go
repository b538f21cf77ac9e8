// Command socialload is the friend-activity load generator
// (docs/BENCHMARKS.md "Social"): it drives a running `segue relay` from a
// separate process, so the relay's CPU is its own. Pin them apart:
//
//	go run ./bench/socialload -prepare /tmp/sr -tokens /tmp/sr-tokens.json
//	taskset -c 1 segue relay --data /tmp/sr --listen 127.0.0.1:8098 --log-level warn &
//	taskset -c 0 go run ./bench/socialload -url http://127.0.0.1:8098 -relay-pid $! -tokens /tmp/sr-tokens.json
//
// -prepare creates the relay's data directory with the demo album,
// -devices users with one device (and token) each, and the friendships:
// each user follows its -friends ring neighbours (i±1 … i±friends/2),
// who follow back, so every user has exactly -friends friends. Load: every
// device holds its activity stream and publishes a track change once per
// -interval at a random phase: by -publish, "stream" (the default) on the
// sync WebSocket when that is the stream (segue-activity-publish) and
// POST /v1/activity over HTTP/2 with SSE, or "http", POST /v1/activity
// with either (what relays before segue-activity-publish take).
// The stream is, by -transport: "sse", GET /v1/activity/stream
// (Server-Sent Events, multiplexed over -conns HTTP/2 connections);
// "ws", the device's sync WebSocket (GET /v1/sync, one connection per
// device: automerge-repo handshake, then segue-activity-subscribe); or
// "both" (the default), each run measured once with each, one after the
// other on the same relay, so the two are compared under the same load. Each event received is timed against
// the relay's stamp of the publication (the same machine clock):
// fan-out latency p50/p99/max. Every -duration run reports the events
// expected and received and the relay's CPU (utime+stime from
// /proc/<pid>/stat over the run) as a share of one core.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

type config struct {
	url, prefix, tokens string
	transport, publish  string
	relayPID            int
	devices, friends    int
	conns               int
	interval, duration  time.Duration
	runs                int
	seed                uint64
}

func main() {
	var c config
	prepare := flag.String("prepare", "", "create a relay data directory here with the demo album, the users, their devices (tokens to -tokens) and friendships, then exit")
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8098", "relay base URL")
	flag.IntVar(&c.relayPID, "relay-pid", 0, "relay process id, for its CPU time")
	flag.IntVar(&c.devices, "devices", 10000, "online devices (one user each)")
	flag.IntVar(&c.friends, "friends", 50, "friends per user (even)")
	flag.IntVar(&c.conns, "conns", 50, "HTTP/2 connections the SSE streams are spread over")
	flag.StringVar(&c.transport, "transport", "both", "activity stream: sse (HTTP/2 Server-Sent Events), ws (sync WebSocket) or both (each run once with each)")
	flag.StringVar(&c.publish, "publish", "stream", "how devices publish: stream (on the sync WebSocket when -transport is ws, else HTTP) or http (always POST /v1/activity)")
	flag.DurationVar(&c.interval, "interval", 3*time.Minute, "each device publishes one track change per interval")
	flag.DurationVar(&c.duration, "duration", 3*time.Minute, "length of one measured run")
	flag.IntVar(&c.runs, "runs", 3, "measured runs")
	flag.StringVar(&c.prefix, "prefix", "sl", "user name prefix")
	flag.StringVar(&c.tokens, "tokens", "socialload-tokens.json", "file of the setup's device tokens (reused when present)")
	flag.Uint64Var(&c.seed, "seed", 1, "seed of the publication phases")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if c.transport != "sse" && c.transport != "ws" && c.transport != "both" {
		fmt.Fprintln(os.Stderr, "socialload: -transport must be sse, ws or both")
		os.Exit(2)
	}
	if c.publish != "stream" && c.publish != "http" {
		fmt.Fprintln(os.Stderr, "socialload: -publish must be stream or http")
		os.Exit(2)
	}
	if c.friends < 2 || c.friends%2 != 0 || c.friends >= c.devices {
		fmt.Fprintln(os.Stderr, "socialload: -friends must be even, at least 2 and below -devices")
		os.Exit(2)
	}
	var err error
	if *prepare != "" {
		err = prepareDir(ctx, *prepare, c)
	} else {
		err = run(ctx, c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "socialload:", err)
		os.Exit(1)
	}
}

// prepareDir creates a relay data directory holding the demo album.
func prepareDir(ctx context.Context, dir string, c config) error {
	dd, err := catalog.OpenDataDirWith(ctx, dir, catalog.DefaultDataDirOptions().WithInit(catalog.InitNew))
	if err != nil {
		return err
	}
	defer dd.Close()
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		return err
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
	if err != nil {
		return err
	}
	fmt.Printf("prepared %s: %d tracks\n", dir, len(res.Tracks))
	return seed(ctx, dd.Store, c)
}

// seed writes c.devices accounts, one device and token each, and the
// ring of friendships straight into the store (the relay is not running
// yet), in transactions of 200 users: registering 10,000 devices and
// 500,000 follows over HTTP takes half an hour on the shared machine. The
// records are the relay's own (docs/ARCHITECTURE.md §5): acct/ (no
// password: these accounts cannot log in), dev/, tok/<sha256(token)> and
// server/social's follow keys. The tokens go to c.tokens.
func seed(ctx context.Context, st store.Store, c config) error {
	start := time.Now()
	toks := make([]string, c.devices)
	half := c.friends / 2
	const batch = 200
	for lo := 0; lo < c.devices; lo += batch {
		hi := min(lo+batch, c.devices)
		err := st.Update(ctx, func(tx store.Txn) error {
			for i := lo; i < hi; i++ {
				user := model.UserID(c.user(i))
				id, err := crypto.NewIdentity(rand.Reader)
				if err != nil {
					return err
				}
				now := time.Now().UTC()
				acct, err := cborx.Marshal(relay.Account{Username: string(user), Subscription: relay.SubscriptionActive, Created: now})
				if err != nil {
					return err
				}
				dev := relay.Device{ID: id.DeviceID(), User: user, Name: "socialload", SignPub: id.SignPublic(), HPKEPub: id.HPKEPublic(), Registered: now}
				devb, err := cborx.Marshal(dev)
				if err != nil {
					return err
				}
				var raw [32]byte
				if _, err := rand.Read(raw[:]); err != nil {
					return err
				}
				tok := base64.RawURLEncoding.EncodeToString(raw[:])
				h := sha256.Sum256([]byte(tok))
				tokb, err := cborx.Marshal(map[int]any{1: dev.ID, 2: now.Add(30 * 24 * time.Hour)})
				if err != nil {
					return err
				}
				for _, kv := range [][2][]byte{{relay.AccountKey(user), acct}, {relay.DeviceKey(dev.ID), devb}, {[]byte("tok/" + hex.EncodeToString(h[:])), tokb}} {
					if err := tx.Set(kv[0], kv[1]); err != nil {
						return err
					}
				}
				toks[i] = tok
				for d := 1; d <= half; d++ {
					for _, j := range []int{(i + d) % c.devices, (i - d + c.devices) % c.devices} {
						if err := social.ImportFollow(tx, user, model.UserID(c.user(j))); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("seed users %d-%d: %w", lo, hi, err)
		}
	}
	b, err := json.Marshal(toks)
	if err != nil {
		return err
	}
	fmt.Printf("seeded %d users, devices, tokens and %d follows in %v\n", c.devices, c.devices*c.friends, time.Since(start).Round(time.Millisecond))
	return os.WriteFile(c.tokens, b, 0o600)
}

// h2c returns a client speaking cleartext HTTP/2 over its own connection.
func h2c() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p, MaxIdleConnsPerHost: 1,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}}
}

func do(ctx context.Context, hc *http.Client, method, url, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
		return fmt.Errorf("%s %s: HTTP %d %s", method, url, resp.StatusCode, b)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (c config) user(i int) string { return fmt.Sprintf("%s%d", c.prefix, i) }

// loadTokens reads the device tokens -prepare wrote.
func loadTokens(c config) ([]string, error) {
	b, err := os.ReadFile(c.tokens)
	if err != nil {
		return nil, fmt.Errorf("%w (run -prepare first)", err)
	}
	var toks []string
	if err := json.Unmarshal(b, &toks); err != nil || len(toks) != c.devices {
		return nil, fmt.Errorf("%s: want %d tokens (prepare with the same -devices)", c.tokens, c.devices)
	}
	return toks, nil
}

// latencies collects fan-out latencies in milliseconds.
type latencies struct {
	mu sync.Mutex
	ms []float64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ms = append(l.ms, float64(d.Microseconds())/1000)
	l.mu.Unlock()
}

func (l *latencies) take() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.ms
	l.ms = nil
	return out
}

func quantile(s []float64, q float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return s[min(int(q*float64(len(s))), len(s)-1)]
}

// stream holds one device's activity stream, timing every event; it
// signals ready once the stream's snapshot is through.
func stream(ctx context.Context, hc *http.Client, url, token string, lat *latencies, recv *atomic.Int64, ready func()) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url+"/v1/activity/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	snapshot := true
	for sc.Scan() {
		line := sc.Bytes()
		if snapshot && bytes.Equal(line, []byte(": ready")) {
			snapshot = false
			ready()
			continue
		}
		data, ok := bytes.CutPrefix(line, []byte("data: "))
		if !ok || snapshot {
			continue
		}
		now := time.Now()
		at, err := stampOf(data)
		if err != nil {
			return err
		}
		lat.add(now.Sub(at))
		recv.Add(1)
	}
	if ctx.Err() != nil {
		return nil
	}
	return cmpErr(sc.Err(), errors.New("stream ended"))
}

// stampOf extracts the relay's "at" stamp from an activity event's JSON
// without decoding the rest (the generator must stay cheap).
func stampOf(data []byte) (time.Time, error) {
	_, rest, ok := bytes.Cut(data, []byte(`"at":"`))
	if !ok {
		return time.Time{}, fmt.Errorf("event without a stamp: %.80s", data)
	}
	v, _, ok := bytes.Cut(rest, []byte(`"`))
	if !ok {
		return time.Time{}, fmt.Errorf("event with a cut stamp: %.80s", data)
	}
	return time.Parse(time.RFC3339Nano, string(v))
}

// probe times GET /healthz every 100 ms until ctx ends: the round trip
// of a request that does no work, the baseline the fan-out latency is
// read against on a loaded machine.
func probe(ctx context.Context, hc *http.Client, url string, lat *latencies) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t0 := time.Now()
		if err := do(ctx, hc, "GET", url+"/healthz", "", nil, nil); err == nil {
			lat.add(time.Since(t0))
		}
	}
}

// relayCPU returns the relay's user + system CPU time (0 when unknown).
func relayCPU(pid int) time.Duration {
	u, s := procCPU(pid)
	return u + s
}

// procCPU returns a process's user and system CPU time (0 when unknown).
func procCPU(pid int) (user, sys time.Duration) {
	if pid <= 0 {
		return 0, 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut) * time.Second / 100, time.Duration(st) * time.Second / 100
}

func run(ctx context.Context, c config) error {
	setupClient := h2c()
	toks, err := loadTokens(c)
	if err != nil {
		return err
	}
	meta, err := demoalbum.Album()
	if err != nil {
		return err
	}
	var tracks []model.TrackID
	for _, tm := range meta.Tracks {
		var sha [32]byte
		if _, err := hex.Decode(sha[:], []byte(tm.MasterSHA256)); err != nil {
			return err
		}
		tracks = append(tracks, catalog.TrackIDFromMaster(sha))
	}
	if err := do(ctx, setupClient, "GET", c.url+"/v1/tracks/"+string(tracks[0]), toks[0], nil, nil); err != nil {
		return fmt.Errorf("demo album track (run -prepare first): %w", err)
	}

	rng := mrand.New(mrand.NewPCG(c.seed, 2))
	phase := make([]time.Duration, c.devices)
	for i := range phase {
		phase[i] = time.Duration(rng.Int64N(int64(c.interval)))
	}
	order := make([]int, c.devices)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(phase[a] - phase[b]) })
	transports := []string{c.transport}
	if c.transport == "both" {
		transports = []string{"sse", "ws"}
	}
	pubClient := h2c()
	var base latencies
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go probe(pctx, h2c(), c.url, &base)
	var errs int64
	for r := 1; r <= c.runs && ctx.Err() == nil; r++ {
		for _, tr := range transports {
			n, err := measure(ctx, c, tr, r, toks, tracks, phase, order, pubClient, &base)
			errs += n
			if err != nil {
				return err
			}
		}
	}
	if errs > 0 {
		return fmt.Errorf("%d publish or stream errors", errs)
	}
	return nil
}

// measure opens every device's stream over transport, runs one measured
// run of c.duration and closes the streams; it returns the number of
// publish and stream errors.
func measure(ctx context.Context, c config, transport string, r int, toks []string, tracks []model.TrackID,
	phase []time.Duration, order []int, pubClient *http.Client, base *latencies) (int64, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var lat latencies
	var recv, streamErrs atomic.Int64
	var ready sync.WaitGroup
	ready.Add(c.devices)
	var wg sync.WaitGroup
	start := time.Now()
	var clients []*http.Client
	if transport == "sse" {
		clients = make([]*http.Client, c.conns)
		for i := range clients {
			clients[i] = h2c()
		}
	}
	dialing := make(chan struct{}, 64) // WebSocket dials and handshakes at once
	// conns[i] is device i's sync WebSocket once subscribed, for
	// publishing on it.
	conns := make([]atomic.Pointer[peer.WSConn], len(toks))
	onWS := transport == "ws" && c.publish == "stream"
	for i, tok := range toks {
		wg.Go(func() {
			var once sync.Once
			done := func() { once.Do(ready.Done) }
			var err error
			if transport == "sse" {
				err = stream(sctx, clients[i%c.conns], c.url, tok, &lat, &recv, done)
			} else {
				dialing <- struct{}{}
				err = wsStream(sctx, c.url, tok, i, &lat, &recv, &conns[i], func() { <-dialing; done() })
				once.Do(func() { <-dialing; ready.Done() })
			}
			done()
			if err != nil && sctx.Err() == nil {
				if streamErrs.Add(1) <= 3 {
					fmt.Fprintln(os.Stderr, transport, "stream:", err)
				}
			}
		})
	}
	ready.Wait()
	fmt.Printf("%s streams: %d open in %v (%d failed)\n", transport, c.devices, time.Since(start).Round(time.Millisecond), streamErrs.Load())

	var published, pubErrs atomic.Int64
	self := os.Getpid()
	lat.take()
	base.take()
	recv.Store(0)
	u0, s0 := procCPU(c.relayPID)
	own0, t0 := relayCPU(self), time.Now()
	var pw sync.WaitGroup
	for cycle := time.Duration(0); cycle < c.duration; cycle += c.interval {
		for _, i := range order {
			at := t0.Add(cycle + phase[i])
			if at.Sub(t0) >= c.duration {
				continue
			}
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(at)):
			}
			if ctx.Err() != nil {
				break
			}
			pw.Go(func() {
				tr := tracks[rng2(i, r)%len(tracks)]
				post := api.ActivityPost{Track: tr, Context: model.PlayContext{Kind: "track", ID: string(tr)}, Playing: true}
				var err error
				if onWS {
					err = wsPublish(ctx, conns[i].Load(), i, post)
				} else {
					err = do(ctx, pubClient, "POST", c.url+"/v1/activity", toks[i], post, nil)
				}
				if err != nil {
					if pubErrs.Add(1) <= 3 {
						fmt.Fprintln(os.Stderr, "publish:", err)
					}
					return
				}
				published.Add(1)
			})
		}
	}
	pw.Wait()
	time.Sleep(3 * time.Second) // deliveries in flight
	wall := time.Since(t0)
	u1, s1 := procCPU(c.relayPID)
	ucpu, scpu, own := u1-u0, s1-s0, relayCPU(self)-own0
	cpu := ucpu + scpu
	ms, bs := lat.take(), base.take()
	slices.Sort(ms)
	slices.Sort(bs)
	n := float64(len(ms))
	how := "HTTP"
	if onWS {
		how = "WebSocket"
	}
	fmt.Printf("run %d %s (publications over %s): %v, %d publications (%.1f/s), %d events expected, %d received; fan-out latency ms p50 %.1f p99 %.1f max %.1f; baseline /healthz round trip ms p50 %.1f p99 %.1f; relay CPU %.1f%% of one core (user %.1f%%, system %.1f%%; %.0f µs per event), generator CPU %.1f%%\n",
		r, transport, how, wall.Round(time.Second), published.Load(), float64(published.Load())/c.duration.Seconds(),
		published.Load()*int64(c.friends), len(ms), quantile(ms, 0.5), quantile(ms, 0.99), quantile(ms, 1),
		quantile(bs, 0.5), quantile(bs, 0.99), 100*cpu.Seconds()/wall.Seconds(), 100*ucpu.Seconds()/wall.Seconds(),
		100*scpu.Seconds()/wall.Seconds(), float64(cpu.Microseconds())/max(n, 1),
		100*own.Seconds()/wall.Seconds())
	cancel()
	wg.Wait()
	return pubErrs.Load() + streamErrs.Load(), nil
}

// wsPublish sends device i's track change on its sync WebSocket
// (segue-activity-publish; the relay does not answer).
func wsPublish(ctx context.Context, conn *peer.WSConn, i int, post api.ActivityPost) error {
	if conn == nil {
		return fmt.Errorf("device %d: no sync connection", i)
	}
	data, err := wire.EncodeActivityPublish(wire.ActivityPublish{Track: string(post.Track),
		ContextKind: post.Context.Kind, ContextID: post.Context.ID, Playing: post.Playing})
	if err != nil {
		return err
	}
	return conn.Send(ctx, &wire.Message{Type: wire.TypeActivityPublish, SenderID: fmt.Sprintf("socialload-%d", i), Data: data})
}

// wsStream holds device i's sync WebSocket subscribed to friend activity,
// timing every event (the relay's stamp is in milliseconds); it stores
// the connection in pub and calls ready once the subscription's snapshot
// has arrived.
func wsStream(ctx context.Context, base, token string, i int, lat *latencies, recv *atomic.Int64, pub *atomic.Pointer[peer.WSConn], ready func()) error {
	u, err := core.SyncURL(base)
	if err != nil {
		return err
	}
	c, _, err := websocket.Dial(ctx, u+"?token="+url.QueryEscape(token), &websocket.DialOptions{CompressionMode: websocket.CompressionContextTakeover})
	if err != nil {
		return err
	}
	defer c.CloseNow()
	conn := peer.NewWSConn(c, 0)
	me := fmt.Sprintf("socialload-%d", i)
	if _, err := peer.ClientHandshake(ctx, conn, me, wire.PeerMetadata{IsEphemeral: true}); err != nil {
		return err
	}
	if err := conn.Send(ctx, &wire.Message{Type: wire.TypeActivitySubscribe, SenderID: me}); err != nil {
		return err
	}
	for {
		m, err := conn.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch m.Type {
		case wire.TypeActivityRefused:
			return fmt.Errorf("subscription refused: %s", m.Message)
		case wire.TypeActivity:
		default:
			continue
		}
		now := time.Now()
		b, err := wire.DecodeActivityBatch(m.Data)
		if err != nil {
			return err
		}
		if b.Snapshot {
			pub.Store(conn)
			ready()
			continue
		}
		for _, raw := range b.Items {
			var st struct {
				AtMs int64 `cbor:"8,keyasint"`
			}
			if err := cbor.Unmarshal(raw, &st); err != nil {
				return err
			}
			lat.add(now.Sub(time.UnixMilli(st.AtMs)))
			recv.Add(1)
		}
	}
}

// rng2 picks a track index for device i in run r (deterministic).
func rng2(i, r int) int { return (i*7 + r*13) & 0x7fffffff }
