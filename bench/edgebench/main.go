// Command edgebench measures serving encrypted blobs on cache hits
// (docs/BENCHMARKS.md, "Edge: throughput"): the same blobs (every header
// and chunk of the demo album, all tiers) served by `segue edge` from its
// memory cache, by the relay from Badger, and by Go's http.FileServer
// over files (the floor: no auth, no hashing, no cache lookup). The
// server and the load generator are separate processes, pinned apart:
//
//	taskset -c 1 edgebench serve -mode edge -spec /tmp/spec.json &
//	taskset -c 0 edgebench load -spec /tmp/spec.json -c 16 -d 10s
//
// serve starts a relay with the demo album (a temporary data directory,
// Badger on disk), registers a device, and in mode edge starts an edge in
// front of it and fetches every blob through it once (so the measured
// requests are hits); it writes the spec (URL, token, paths) and serves
// until SIGINT or SIGTERM. load runs -c keep-alive clients that GET the
// paths round-robin for -d and prints one JSON line: requests/s, MB/s,
// errors. bench/edgebench/run.sh runs the three modes three times each.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/edge"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/relay"
)

// spec is what serve writes and load reads.
type spec struct {
	Mode  string   `json:"mode"`
	URL   string   `json:"url"`
	Token string   `json:"token"`
	Paths []string `json:"paths"` // /v1/blobs/<hex>
	Bytes int64    `json:"bytes"` // sum of the blobs' sizes
}

// result is load's output line.
type result struct {
	Mode     string  `json:"mode"`
	Conns    int     `json:"conns"`
	Seconds  float64 `json:"seconds"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	ReqPerS  float64 `json:"req_per_s"`
	MBPerS   float64 `json:"mb_per_s"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: edgebench serve|load [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "load":
		err = load(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want serve or load)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgebench:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	mode := fs.String("mode", "edge", "what serves the blobs: edge, relay or files")
	specPath := fs.String("spec", "", "where to write the spec for load (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *specPath == "" || (*mode != "edge" && *mode != "relay" && *mode != "files") {
		return errors.New("serve: -spec is required and -mode must be edge, relay or files")
	}
	quiet := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "edgebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	r, err := startRelay(ctx, filepath.Join(dir, "relay"), quiet)
	if err != nil {
		return err
	}
	defer r.close()
	eng, err := core.Open(ctx, filepath.Join(dir, "device"), core.DefaultOptions().WithOrigins(r.URL).WithLogger(quiet))
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := eng.SignUp(ctx, "bench", password); err != nil {
		return fmt.Errorf("sign up: %w", err)
	}
	if err := eng.Register(ctx, "bench", password, "edgebench"); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	sp := spec{Mode: *mode, URL: r.URL, Token: eng.Token()}
	blobs, err := r.albumBlobs(ctx)
	if err != nil {
		return err
	}
	for h, b := range blobs {
		sp.Paths = append(sp.Paths, "/v1/blobs/"+h)
		sp.Bytes += int64(len(b))
	}
	var srv *http.Server
	switch *mode {
	case "files":
		files := filepath.Join(dir, "blobs")
		if err := os.Mkdir(files, 0o700); err != nil {
			return err
		}
		for h, b := range blobs {
			if err := os.WriteFile(filepath.Join(files, h), b, 0o600); err != nil {
				return err
			}
		}
		srv = &http.Server{Handler: http.StripPrefix("/v1/blobs/", http.FileServer(http.Dir(files)))}
	case "edge":
		e, err := edge.New(edge.DefaultOptions(r.URL))
		if err != nil {
			return err
		}
		defer e.Close()
		srv = &http.Server{Handler: e.Handler()}
	}
	if srv != nil {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv.ReadHeaderTimeout = 10 * time.Second
		go srv.Serve(ln)
		defer srv.Close()
		sp.URL = "http://" + ln.Addr().String()
	}
	if *mode == "edge" { // warm: every measured request is a hit
		for _, p := range sp.Paths {
			if _, err := fetch(ctx, http.DefaultClient, sp.URL+p, sp.Token); err != nil {
				return fmt.Errorf("warm %s: %w", p, err)
			}
		}
	}
	b, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*specPath, b, 0o600); err != nil {
		return err
	}
	fmt.Printf("serving %d blobs (%d bytes) in mode %s at %s\n", len(sp.Paths), sp.Bytes, sp.Mode, sp.URL)
	<-ctx.Done()
	return nil
}

// password is the bench account's password.
const password = "edgebench password"

// benchRelay is a relay on loopback over a data directory holding the
// demo album.
type benchRelay struct {
	URL    string
	dd     *catalog.DataDir
	srv    *relay.Server
	cancel context.CancelFunc
	tracks []model.TrackID
}

// startRelay ingests the embedded demo album into a new data directory
// dir and starts a relay on it on 127.0.0.1 with open signup.
func startRelay(ctx context.Context, dir string, log *slog.Logger) (*benchRelay, error) {
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		dd.Close()
		return nil, err
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions())
	if err != nil {
		dd.Close()
		return nil, err
	}
	srv := relay.NewWithDataDir(dd, relay.DefaultOptions(dir).WithListen("127.0.0.1:0").WithOpenSignup(true).
		WithArgonParams(relay.FastArgonParams).WithLogger(log))
	sctx, cancel := context.WithCancel(context.Background())
	addr, err := srv.Start(sctx)
	if err != nil {
		cancel()
		srv.Close()
		dd.Close()
		return nil, err
	}
	r := &benchRelay{URL: "http://" + addr, dd: dd, srv: srv, cancel: cancel}
	for _, t := range res.Tracks {
		r.tracks = append(r.tracks, t.ID)
	}
	return r, nil
}

func (r *benchRelay) close() {
	r.cancel()
	r.srv.Close()
	r.dd.Close()
}

// albumBlobs returns every header and chunk blob of the demo album, all
// tiers, by hex SHA-256, read from the relay's catalog.
func (r *benchRelay) albumBlobs(ctx context.Context) (map[string][]byte, error) {
	cat := r.dd.Catalog
	pub := r.dd.Signer.Public().(ed25519.PublicKey)
	out := map[string][]byte{}
	for _, track := range r.tracks {
		for _, tier := range model.Tiers {
			env, err := cat.Manifest(ctx, track, tier)
			if err != nil {
				continue // tier not published
			}
			m, err := crypto.OpenManifest(pub, env)
			if err != nil {
				return nil, err
			}
			refs := []model.BlobRef{m.Header}
			for _, c := range m.Chunks {
				refs = append(refs, c.Blob)
			}
			for _, ref := range refs {
				b, err := cat.Blob(ctx, ref.SHA256)
				if err != nil {
					return nil, err
				}
				out[hex.EncodeToString(ref.SHA256[:])] = b
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no blobs in the demo album")
	}
	return out, nil
}

// fetch GETs url with the bearer token and returns the body size; a
// non-200 answer is an error.
func fetch(ctx context.Context, c *http.Client, url, tok string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, nil
}

func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	specPath := fs.String("spec", "", "the spec serve wrote (required)")
	conns := fs.Int("c", 16, "concurrent keep-alive clients")
	dur := fs.Duration("d", 10*time.Second, "how long to run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := os.ReadFile(*specPath)
	if err != nil {
		return err
	}
	var sp spec
	if err := json.Unmarshal(b, &sp); err != nil {
		return fmt.Errorf("spec: %w", err)
	}
	if *conns < 1 || *dur <= 0 || len(sp.Paths) == 0 {
		return errors.New("load: -c ≥ 1, -d > 0 and a spec with paths")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}}
	lctx, cancel := context.WithTimeout(ctx, *dur)
	defer cancel()
	var reqs, errs, bytes atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range *conns {
		wg.Go(func() {
			for i := w; lctx.Err() == nil; i++ {
				n, err := fetch(lctx, client, sp.URL+sp.Paths[i%len(sp.Paths)], sp.Token)
				if lctx.Err() != nil {
					return
				}
				if err != nil {
					errs.Add(1)
					continue
				}
				reqs.Add(1)
				bytes.Add(n)
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	out, _ := json.Marshal(result{Mode: sp.Mode, Conns: *conns, Seconds: secs, Requests: reqs.Load(), Errors: errs.Load(),
		ReqPerS: float64(reqs.Load()) / secs, MBPerS: float64(bytes.Load()) / secs / 1e6})
	fmt.Println(string(out))
	return nil
}
