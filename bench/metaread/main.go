// Command metaread measures the relay's metadata reads against the HTTP
// floor (issue 10 item 7, docs/BENCHMARKS.md): a real `segue relay`
// process pinned to one core answers GET /v1/tracks/{id}; a trivial Go
// net/http server answering the same bytes on the same core is the floor;
// a load generator process pinned to the other core keeps 64 keep-alive
// connections busy against each in turn. It prints req/s per run, the
// median of each side and the ratio relay/floor.
//
//	go build -o /tmp/segue ./cmd/segue
//	go run ./bench/metaread -segue /tmp/segue -runs 3 -duration 5s
//
// It needs Linux and taskset (util-linux). The same binary plays three
// roles: the coordinator (default), the floor server (-role floor) and the
// load generator (-role load).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/catalog"
)

func main() {
	role := flag.String("role", "", "internal: floor or load (the coordinator starts them)")
	segue := flag.String("segue", "", "path of the segue binary to run as the relay (go build -o /tmp/segue ./cmd/segue)")
	runs := flag.Int("runs", 3, "runs per side")
	duration := flag.Duration("duration", 5*time.Second, "load duration per run")
	warmup := flag.Duration("warmup", 2*time.Second, "unrecorded load against each side before the runs (0: none)")
	conns := flag.Int("conns", 64, "keep-alive connections of the load generator")
	serverCPU := flag.String("server-cpu", "1", "CPU list (taskset -c) of the relay and the floor server")
	loadCPU := flag.String("load-cpu", "0", "CPU list (taskset -c) of the load generator")
	url := flag.String("url", "", "internal (load): URL to request")
	token := flag.String("token", "", "internal (load): bearer token")
	body := flag.String("body", "", "internal (floor): file holding the response body")
	etag := flag.String("etag", "", "internal (floor): ETag header value")
	flag.Parse()
	var err error
	switch *role {
	case "floor":
		err = serveFloor(*body, *etag)
	case "load":
		err = load(*url, *token, *conns, *duration)
	case "":
		if *segue == "" {
			err = errors.New("-segue is required (go build -o /tmp/segue ./cmd/segue)")
			break
		}
		err = coordinate(*segue, *runs, *duration, *warmup, *conns, *serverCPU, *loadCPU)
	default:
		err = fmt.Errorf("unknown -role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "metaread:", err)
		os.Exit(1)
	}
}

// coordinate prepares a relay data directory with one published track,
// starts the relay and the floor server pinned to serverCPU, registers a
// device, warms both up with the same unrecorded load (the relay's first
// seconds include its start-up work: index builds, caches filling), and
// alternates load runs against both from loadCPU.
func coordinate(segue string, runs int, d, warmup time.Duration, conns int, serverCPU, loadCPU string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "metaread-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	data := filepath.Join(tmp, "relay")
	track, err := publish(data)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	relayURL, relayPID, stopRelay, err := startServer(ctx, "taskset", "-c", serverCPU, segue, "relay", "-data", data,
		"-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-log-level", "info")
	if err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	defer stopRelay()
	tok, err := register(relayURL)
	if err != nil {
		return err
	}
	trackURL := relayURL + "/v1/tracks/" + string(track)
	b, etag, err := get(trackURL, tok)
	if err != nil {
		return err
	}
	bodyFile := filepath.Join(tmp, "body.json")
	if err := os.WriteFile(bodyFile, b, 0o600); err != nil {
		return err
	}
	floorURL, floorPID, stopFloor, err := startServer(ctx, "taskset", "-c", serverCPU, self, "-role", "floor", "-body", bodyFile, "-etag", etag)
	if err != nil {
		return fmt.Errorf("start floor: %w", err)
	}
	defer stopFloor()
	if fb, fe, err := get(floorURL+"/v1/tracks/"+string(track), tok); err != nil || !bytes.Equal(fb, b) || fe != etag {
		return fmt.Errorf("the floor server does not answer the relay's bytes (%v)", err)
	}

	fmt.Printf("metadata read: GET /v1/tracks/{id}, %d bytes; servers on CPU %s, load on CPU %s, %d connections, %s per run\n",
		len(b), serverCPU, loadCPU, conns, d)
	relay := side{"relay", trackURL, relayPID}
	floor := side{"floor", floorURL + "/v1/tracks/" + string(track), floorPID}
	if warmup > 0 {
		for _, sd := range []side{relay, floor} {
			if _, _, err := runLoad(ctx, self, loadCPU, sd, tok, conns, warmup); err != nil {
				return fmt.Errorf("warm up: %w", err)
			}
		}
		fmt.Printf("warmed up each side for %s (not recorded)\n", warmup)
	}
	var relayRates, floorRates []float64
	for i := range runs {
		for _, sd := range []side{relay, floor} {
			rate, cpu, err := runLoad(ctx, self, loadCPU, sd, tok, conns, d)
			if err != nil {
				return err
			}
			if sd.name == "relay" {
				relayRates = append(relayRates, rate)
			} else {
				floorRates = append(floorRates, rate)
			}
			fmt.Printf("run %d %-5s %9.0f req/s  %5.1f µs server CPU per request\n", i+1, sd.name, rate, cpu)
		}
	}
	r, f := median(relayRates), median(floorRates)
	fmt.Printf("relay %.0f req/s (%.0f–%.0f), floor %.0f req/s (%.0f–%.0f): ratio %.2f (goal ≥ 0.80)\n",
		r, slices.Min(relayRates), slices.Max(relayRates), f, slices.Min(floorRates), slices.Max(floorRates), r/f)
	return nil
}

// side is one server under test: the relay or the floor.
type side struct {
	name, url string
	pid       int
}

// runLoad runs the load generator pinned to loadCPU against sd for d and
// returns the requests per second and the server's CPU microseconds per
// request over the run.
func runLoad(ctx context.Context, self, loadCPU string, sd side, tok string, conns int, d time.Duration) (float64, float64, error) {
	cpu0, err := cpuTime(sd.pid)
	if err != nil {
		return 0, 0, err
	}
	out, err := exec.CommandContext(ctx, "taskset", "-c", loadCPU, self, "-role", "load",
		"-url", sd.url, "-token", tok, "-conns", strconv.Itoa(conns), "-duration", d.String()).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("load %s: %w", sd.name, err)
	}
	var res loadResult
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, 0, fmt.Errorf("load %s: %q: %w", sd.name, out, err)
	}
	if res.Errors > 0 {
		return 0, 0, fmt.Errorf("load %s: %d errors (%s)", sd.name, res.Errors, res.FirstError)
	}
	if res.Requests == 0 {
		return 0, 0, fmt.Errorf("load %s: no request answered in %s", sd.name, d)
	}
	cpu1, err := cpuTime(sd.pid)
	if err != nil {
		return 0, 0, err
	}
	return res.PerSecond, float64((cpu1 - cpu0).Microseconds()) / float64(res.Requests), nil
}

// cpuTime returns the user+system CPU time process pid has used, from
// /proc/<pid>/stat (clock ticks of 10 ms, USER_HZ on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// publish fills the relay data directory dir with one album of one track
// (low tier, two small chunks) and returns the track's id.
func publish(dir string) (model.TrackID, error) {
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		return "", err
	}
	defer dd.Close()
	artist := model.Artist{ID: catalog.ArtistIDFor("metaread"), Name: "Metaread Ensemble"}
	album := model.Album{ID: catalog.AlbumIDFor(artist.Name, "Benchmarks"), Title: "Benchmarks", ArtistIDs: []model.ArtistID{artist.ID}}
	sha := sha256.Sum256([]byte("metaread master"))
	id := catalog.TrackIDFromMaster(sha)
	var key crypto.ContentKey
	if _, err := rand.Read(key[:]); err != nil {
		return "", err
	}
	put := func(idx uint64, n int) (model.BlobRef, error) {
		enc := crypto.EncryptBlob(key, idx, make([]byte, n))
		h, err := dd.Catalog.PutBlob(ctx, enc)
		return model.BlobRef{Size: int64(len(enc)), SHA256: h}, err
	}
	hdr, err := put(0, 64)
	if err != nil {
		return "", err
	}
	c0, err := put(1, 4096)
	if err != nil {
		return "", err
	}
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: model.TierLow, Codec: model.CodecVorbis,
		SampleRate: 16000, Channels: 2, TotalSamples: 16000, Header: hdr,
		Chunks: []model.Chunk{{Index: 0, Samples: 16000, Blob: c0}}}
	env, err := crypto.SignManifest(dd.Signer, m)
	if err != nil {
		return "", err
	}
	tr := model.Track{ID: id, Title: "A Track Title of Ordinary Length", ArtistIDs: []model.ArtistID{artist.ID}, AlbumID: album.ID,
		TrackNumber: 1, DiscNumber: 1, SampleRate: 16000, Channels: 2, Samples: 16000, Tiers: []model.Tier{model.TierLow}, MasterSHA256: sha}
	album.TrackIDs = []model.TrackID{id}
	err = dd.Catalog.Publish(ctx, catalog.Release{Album: album, Artists: []model.Artist{artist},
		Tracks: []catalog.TrackRelease{{Track: tr, Streams: []catalog.Stream{{Tier: model.TierLow, Envelope: env, Key: key}}}}})
	return id, err
}

// startServer runs a server command that prints "… listening on URL" on
// stdout, and returns the URL, its process id and a function that stops
// it.
func startServer(ctx context.Context, name string, args ...string) (string, int, func(), error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	lines := bufio.NewScanner(out)
	var u string
	for u == "" && lines.Scan() {
		_, u, _ = strings.Cut(lines.Text(), " listening on ")
	}
	if u == "" {
		stop()
		return "", 0, nil, fmt.Errorf("%s: exited without a listening line", name)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return u, cmd.Process.Pid, stop, nil
}

// register signs up an account and registers a device on the relay at
// base, returning the device token.
func register(base string) (string, error) {
	const user, pw = "bench", "a benchmark password"
	if err := postJSON(base+"/v1/accounts", map[string]string{"username": user, "password": pw}, nil); err != nil {
		return "", fmt.Errorf("sign up: %w", err)
	}
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	sp, hp := id.SignPublic(), id.HPKEPublic()
	req := api.RegisterRequest{Username: user, Password: pw, Name: "metaread", SignPub: sp, HPKEPub: hp, Issued: now.Unix(),
		Sig: id.Sign(crypto.DeviceProofMessage(user, "metaread", sp, hp, now))}
	var res api.RegisterResponse
	if err := postJSON(base+"/v1/devices", req, &res); err != nil {
		return "", fmt.Errorf("register: %w", err)
	}
	return res.Token, nil
}

func postJSON(u string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := http.Post(u, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s", resp.Status, rb)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(rb, out)
}

// get fetches u with the bearer token and returns the body and ETag.
func get(u, tok string) ([]byte, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return b, resp.Header.Get("ETag"), err
}

// serveFloor is the floor: a plain net/http server on 127.0.0.1 that
// answers every request with the body in file and the relay's headers.
func serveFloor(file, etag string) error {
	body, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	n := strconv.Itoa(len(body))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("floor listening on http://%s\n", ln.Addr())
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Type", "application/json")
		hd.Set("Content-Length", n)
		hd.Set("Etag", etag)
		hd.Set("Cache-Control", "private, no-cache")
		_, _ = w.Write(body)
	})
	return http.Serve(ln, h)
}

// loadResult is what the load generator prints as JSON.
type loadResult struct {
	Requests   int64   `json:"requests"`
	PerSecond  float64 `json:"per_second"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
}

// load keeps conns keep-alive HTTP/1.1 connections busy with GET u (one
// request in flight per connection) for d, then prints a loadResult. It
// writes requests and parses responses by hand, so that the generator's
// own cost stays small next to the server's.
func load(u, tok string, conns int, d time.Duration) error {
	host, path, err := splitURL(u)
	if err != nil {
		return err
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + tok + "\r\nUser-Agent: metaread\r\n\r\n")
	var total, errs atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			n, err := loadConn(host, req, deadline)
			total.Add(n)
			if err != nil {
				errs.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	res := loadResult{Requests: total.Load(), PerSecond: float64(total.Load()) / el.Seconds(), Errors: errs.Load()}
	if s, ok := firstErr.Load().(string); ok {
		res.FirstError = s
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// loadConn sends req on one connection until deadline and returns the
// number of 200 answers.
func loadConn(host string, req []byte, deadline time.Time) (int64, error) {
	c, err := net.Dial("tcp", host)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, 16<<10)
	var n int64
	for time.Now().Before(deadline) {
		if _, err := c.Write(req); err != nil {
			return n, err
		}
		status, length := 0, -1
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return n, err
			}
			switch {
			case status == 0:
				if len(line) < 12 {
					return n, fmt.Errorf("bad status line %q", line)
				}
				status, _ = strconv.Atoi(string(line[9:12]))
			case len(line) <= 2:
				if length < 0 {
					return n, errors.New("answer without Content-Length")
				}
				if _, err := r.Discard(length); err != nil {
					return n, err
				}
			case len(line) > 15 && bytes.EqualFold(line[:15], []byte("content-length:")):
				length, _ = strconv.Atoi(strings.TrimSpace(string(line[15:])))
			}
			if len(line) <= 2 {
				break
			}
		}
		if status != http.StatusOK {
			return n, fmt.Errorf("status %d", status)
		}
		n++
	}
	return n, nil
}

// splitURL splits http://host:port/path.
func splitURL(u string) (host, path string, err error) {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return "", "", fmt.Errorf("%q: want an http:// URL", u)
	}
	host, path, _ = strings.Cut(rest, "/")
	return host, "/" + path, nil
}
