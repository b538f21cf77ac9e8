package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/net/netutil"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/tcplisten"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/edge"
	"github.com/segue-fm/segue/server/relay"
)

// maxEdgeAuthTTL bounds --auth-ttl: a token the relay revoked keeps
// reading encrypted blobs (and being recorded in access records) from the
// edge for at most that long.
const maxEdgeAuthTTL = time.Hour

// maxEdgeInFlightWait bounds --inflight-wait: a miss that waits longer for
// room is better answered 503 so its client retries or tries elsewhere.
const maxEdgeInFlightWait = time.Minute

// Bounds of the edge's flags for its parent fetches and slow clients: a
// fetch or a grace past maxEdgeOriginTimeout / maxEdgeSendGrace holds a
// miss's body (and its in-flight bytes) longer than any player waits; a
// send rate under minEdgeSendRateKiB (below the lowest stream tier, 3 KB/s)
// lets a client that barely reads hold its answer for hours.
const (
	maxEdgeOriginTimeout = 10 * time.Minute
	maxEdgeSendGrace     = 10 * time.Minute
	minEdgeSendRateKiB   = 4
	maxEdgeSendRateKiB   = 1 << 20
)

// Connections the edge holds at once (--max-conns): by default well under
// the open-file limit the process usually gets (Go raises the soft limit
// to the hard one), so idle keep-alive connections cannot take the file
// descriptors its disk cache and parent fetches need.
const (
	defaultEdgeMaxConns = 10_000
	maxEdgeMaxConns     = 1 << 20
)

func init() {
	register("edge", "run a caching edge in front of a relay or a parent edge (encrypted blobs and manifests only)", runEdge)
}

func runEdge(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parent := fs.String("parent", envOr("SEGUE_EDGE_PARENT", ""), "base URL misses are fetched from: the relay or a mid-tier edge, e.g. http://relay:8080 (env SEGUE_EDGE_PARENT)")
	listen := fs.String("listen", envOr("SEGUE_EDGE_LISTEN", "127.0.0.1:8090"), "listen address; port 0 picks a free port (env SEGUE_EDGE_LISTEN)")
	memMiB := fs.Int64("memory-mib", edge.DefaultMemoryBytes>>20, "memory cache budget in MiB")
	diskDir := fs.String("disk-dir", envOr("SEGUE_EDGE_DISK", ""), "disk cache directory, used by one edge at a time (empty: memory only; env SEGUE_EDGE_DISK)")
	diskMiB := fs.Int64("disk-mib", edge.DefaultDiskBytes>>20, "disk cache budget in MiB (with -disk-dir)")
	inFlightMiB := fs.Int64("inflight-mib", edge.DefaultInFlightBytes>>20, fmt.Sprintf("memory budget in MiB for the bodies of misses being fetched and served, outside -memory-mib; at least %d (the largest blob)", model.MaxBlobSize>>20))
	inFlightWait := fs.Duration("inflight-wait", edge.DefaultInFlightWait, fmt.Sprintf("how long a miss waits in all for -inflight-mib room (its client's share included) before it is answered 503 with Retry-After, 0…%s", maxEdgeInFlightWait))
	inFlightClientMiB := fs.Int64("inflight-per-client-mib", 0, fmt.Sprintf("part of -inflight-mib the misses started by one client address may hold at once: past it a miss waits -inflight-wait for that address's earlier ones, then 503 with Retry-After; 0: a quarter of -inflight-mib, at least %d; else %d…-inflight-mib", model.MaxBlobSize>>20, model.MaxBlobSize>>20))
	originTimeout := fs.Duration("origin-timeout", edge.DefaultOriginTimeout, fmt.Sprintf("bound on one fetch from -parent, body included (past it the miss is 502), 1s…%s", maxEdgeOriginTimeout))
	sendGrace := fs.Duration("send-grace", edge.DefaultSendGrace, fmt.Sprintf("an answer of n bytes must be written within this plus n at -send-min-rate-kib, else the client is cut off (so it cannot hold a miss's body), 1s…%s", maxEdgeSendGrace))
	sendRateKiB := fs.Int64("send-min-rate-kib", edge.DefaultSendRate>>10, fmt.Sprintf("slowest read rate in KiB/s an answer is written at (see -send-grace; the top stream tier is 40 KB/s), %d…%d", minEdgeSendRateKiB, maxEdgeSendRateKiB))
	authTTL := fs.Duration("auth-ttl", edge.DefaultAuthTTL, fmt.Sprintf("how long an accepted device token is trusted before the parent is asked again, 1s…%s (a revoked token reads encrypted blobs that long)", maxEdgeAuthTTL))
	tokenFile := fs.String("token-file", envOr("SEGUE_EDGE_TOKEN_FILE", ""), "file holding the edge's own device token; enables pre-positioning of scheduled releases (env SEGUE_EDGE_TOKEN_FILE)")
	every := fs.Duration("preposition-every", 5*time.Minute, "interval between pre-positioning passes (with -token-file)")
	pinMiB := fs.Int64("pin-mib", edge.DefaultPinBytes>>20, "memory budget in MiB for pre-positioned releases, outside -memory-mib")
	accessKeep := fs.Duration("access-retention", 0, fmt.Sprintf("with -access-dir: delete the day files of UTC days that ended this long ago, checked hourly (0 keeps them; else at least %v, what segue reconcile --edge-access reads back from a recent day)", minAccessRetention))
	accessDir := fs.String("access-dir", envOr("SEGUE_EDGE_ACCESS_DIR", ""), "directory for access records of the audio served (one file per UTC day, server/access; empty: none; env SEGUE_EDGE_ACCESS_DIR)")
	userTimeout := fs.Duration("tcp-user-timeout", tcplisten.DefaultUserTimeout, fmt.Sprintf("TCP_USER_TIMEOUT of the edge's connections (Linux; elsewhere ignored, with a log line): a connection whose sent data stays unacknowledged this long (a client gone without closing while the edge was sending to it) is closed by the kernel instead of after its retransmissions give up (about 15 minutes), freeing its place under -max-conns; 0 off, else %v…%v", tcplisten.MinUserTimeout, tcplisten.MaxUserTimeout))
	maxConns := fs.Int("max-conns", defaultEdgeMaxConns, fmt.Sprintf("connections held at once; further ones wait in the listen queue until one closes, 1…%d", maxEdgeMaxConns))
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "grace period for in-flight requests on SIGTERM (0: none)")
	level := fs.String("log-level", envOr("SEGUE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env SEGUE_LOG_LEVEL)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: segue edge --parent URL [--listen ADDR] [--memory-mib N] [--inflight-mib N [--inflight-per-client-mib N]] [--origin-timeout D] [--send-grace D --send-min-rate-kib N] [--max-conns N] [--tcp-user-timeout D] [--disk-dir DIR --disk-mib N] [--token-file F [--preposition-every D] [--pin-mib N]] [--access-dir DIR]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("%w: -log-level: %v", errUsage, err)
	}
	if *parent == "" {
		return fmt.Errorf("%w: -parent is required", errUsage)
	}
	if *memMiB <= 0 || *diskMiB <= 0 || *memMiB > 1<<30 || *diskMiB > 1<<30 || *pinMiB < 0 || *pinMiB > 1<<30 {
		return fmt.Errorf("%w: -memory-mib and -disk-mib must be between 1 and 2^30, -pin-mib between 0 and 2^30", errUsage)
	}
	if *inFlightMiB < model.MaxBlobSize>>20 || *inFlightMiB > 1<<30 {
		return fmt.Errorf("%w: -inflight-mib %d: want %d to 2^30", errUsage, *inFlightMiB, model.MaxBlobSize>>20)
	}
	if *inFlightWait < 0 || *inFlightWait > maxEdgeInFlightWait {
		return fmt.Errorf("%w: -inflight-wait %s: want 0…%s", errUsage, *inFlightWait, maxEdgeInFlightWait)
	}
	if *inFlightClientMiB != 0 && (*inFlightClientMiB < model.MaxBlobSize>>20 || *inFlightClientMiB > *inFlightMiB) {
		return fmt.Errorf("%w: -inflight-per-client-mib %d: want 0 or %d…%d (-inflight-mib)", errUsage, *inFlightClientMiB, model.MaxBlobSize>>20, *inFlightMiB)
	}
	if *originTimeout < time.Second || *originTimeout > maxEdgeOriginTimeout {
		return fmt.Errorf("%w: -origin-timeout %s: want 1s…%s", errUsage, *originTimeout, maxEdgeOriginTimeout)
	}
	if *sendGrace < time.Second || *sendGrace > maxEdgeSendGrace {
		return fmt.Errorf("%w: -send-grace %s: want 1s…%s", errUsage, *sendGrace, maxEdgeSendGrace)
	}
	if *sendRateKiB < minEdgeSendRateKiB || *sendRateKiB > maxEdgeSendRateKiB {
		return fmt.Errorf("%w: -send-min-rate-kib %d: want %d…%d", errUsage, *sendRateKiB, minEdgeSendRateKiB, maxEdgeSendRateKiB)
	}
	if *maxConns < 1 || *maxConns > maxEdgeMaxConns {
		return fmt.Errorf("%w: -max-conns %d: want 1…%d", errUsage, *maxConns, maxEdgeMaxConns)
	}
	if err := checkTCPUserTimeout(*userTimeout); err != nil {
		return err
	}
	if err := checkListen(*listen); err != nil {
		return err
	}
	if *shutdown < 0 {
		return fmt.Errorf("%w: --shutdown-timeout %v: want 0 (no grace) or a positive duration", errUsage, *shutdown)
	}
	if *authTTL < time.Second || *authTTL > maxEdgeAuthTTL {
		return fmt.Errorf("%w: -auth-ttl %s: want 1s…%s", errUsage, *authTTL, maxEdgeAuthTTL)
	}
	if err := checkAccessRetention(*accessKeep); err != nil {
		return err
	}
	if *accessKeep > 0 && *accessDir == "" {
		return fmt.Errorf("%w: -access-retention needs -access-dir", errUsage)
	}
	if *every < time.Second {
		return fmt.Errorf("%w: -preposition-every must be at least 1s", errUsage)
	}
	var token string
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("%w: -token-file: %w", errUsage, err)
		}
		if token = strings.TrimSpace(string(b)); token == "" || len(token) > 4096 {
			return fmt.Errorf("%w: -token-file %s: want one device token", errUsage, *tokenFile)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	opts := edge.DefaultOptions(*parent).
		WithMemoryBytes(*memMiB<<20).
		WithDiskDir(*diskDir).
		WithDiskBytes(*diskMiB<<20).
		WithInFlightBytes(*inFlightMiB<<20, *inFlightWait).
		WithInFlightPerClient(*inFlightClientMiB<<20).
		WithOriginTimeout(*originTimeout).
		WithSlowClient(*sendGrace, *sendRateKiB<<10).
		WithAuthTTL(*authTTL, edge.DefaultAuthFailTTL).
		WithPreposition(*pinMiB<<20, edge.DefaultPinWindow).
		WithLogger(log)
	if *accessDir != "" {
		aw, err := access.NewFileWriter(*accessDir, access.DefaultOptions().WithLogger(log))
		if err != nil {
			return fmt.Errorf("access records: %w", err)
		}
		defer func() {
			if err := aw.Close(); err != nil {
				log.Error("edge: close access records", "err", err)
			}
		}()
		opts = opts.WithAccessWriter(aw)
		if *accessKeep > 0 {
			actx, stopRetain := context.WithCancel(ctx)
			retained := make(chan struct{})
			go func() {
				defer close(retained)
				access.Retain(actx, access.NewFilePruner(*accessDir), *accessKeep, time.Now, log)
			}()
			defer func() { stopRetain(); <-retained }()
		}
	}
	e, err := edge.New(opts)
	if errors.Is(err, edge.ErrBadOptions) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := tcplisten.Listen(ctx, *listen, *userTimeout, log)
	if err != nil {
		return err
	}
	ln = netutil.LimitListener(ln, *maxConns)
	// The relay's header bound (relay.MaxHeaderBytes): net/http's 1 MiB
	// default let each connection hold a megabyte of unfinished headers.
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute,
		MaxHeaderBytes: relay.MaxHeaderBytes}
	fmt.Fprintf(stdout, "edge listening on http://%s (parent %s)\n", ln.Addr(), *parent)
	serr := make(chan error, 1)
	go func() { serr <- srv.Serve(ln) }()
	if token != "" {
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.RunPreposition(pctx, func() string { return token }, *every) }()
		defer func() { stop(); <-done }() // before e.Close
	}
	select {
	case err := <-serr:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	err = srv.Shutdown(sctx)
	s := e.Stats()
	log.Info("edge stopped", "hits", s.Hits, "misses", s.Misses, "hit_ratio", s.HitRatio(), "parent_fetches", s.ParentFetches)
	return err
}
