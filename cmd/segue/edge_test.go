package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/relay"
)

// TestEdgeCommand runs `segue edge` in front of a relay: the same manifest
// comes through it twice, a request without a token is refused
// as the relay refuses it, and bad arguments exit 2.
func TestEdgeCommand(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	tok := testbed.Device(t, r, "alice").Token()
	url, stop := startEdge(t, "-parent", r.URL, "-disk-dir", t.TempDir())
	path := "/v1/audio/" + string(r.Tracks[0]) + "/normal/manifest"
	var first []byte
	for i := range 2 {
		req, _ := http.NewRequest(http.MethodGet, url+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(b) == 0 || bytes.HasPrefix(b, []byte("{")) || resp.Header.Get("Content-Type") != "application/cbor" {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, b)
		}
		if i == 1 && !bytes.Equal(b, first) {
			t.Fatal("the second answer differs from the first")
		}
		first = b
	}
	resp, err := http.Get(url + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", resp.StatusCode)
	}
	stop()

	for _, args := range [][]string{
		{"edge"},
		{"edge", "-parent", "ftp://x"},
		{"edge", "-parent", "http://x", "-memory-mib", "0"},
		{"edge", "-parent", "http://x", "extra"},
		{"edge", "-parent", "http://x", "-auth-ttl", "1000h"},
		{"edge", "-parent", "http://x", "-auth-ttl", "-1s"},
		{"edge", "-parent", "http://x", "-inflight-mib", "15"},
		{"edge", "-parent", "http://x", "-max-conns", "0"},
		{"edge", "-parent", "http://x", "-inflight-wait", "-1s"},
		{"edge", "-parent", "http://x", "-inflight-wait", "2m"},
		{"edge", "-parent", "http://x", "-inflight-per-client-mib", "-1"},
		{"edge", "-parent", "http://x", "-inflight-per-client-mib", "15"},
		{"edge", "-parent", "http://x", "-inflight-per-client-mib", "129"},
		{"edge", "-parent", "http://x", "-origin-timeout", "0s"},
		{"edge", "-parent", "http://x", "-origin-timeout", "11m"},
		{"edge", "-parent", "http://x", "-send-grace", "0s"},
		{"edge", "-parent", "http://x", "-send-grace", "11m"},
		{"edge", "-parent", "http://x", "-send-min-rate-kib", "3"},
		{"edge", "-parent", "http://x", "-send-min-rate-kib", "1048577"},
		{"edge", "-parent", "http://x", "-access-dir", "x", "-access-retention", "24h"},
		{"edge", "-parent", "http://x", "-access-retention", "900h"},
		{"edge", "-parent", "http://x", "-tcp-user-timeout", "-1s"},
		{"edge", "-parent", "http://x", "-tcp-user-timeout", "999ms"},
		{"edge", "-parent", "http://x", "-tcp-user-timeout", "11m"},
	} {
		if c, _, stderr := runCmd(args...); c != 2 || !strings.Contains(stderr, "segue edge") {
			t.Errorf("%q: exit %d, %q; want 2 with a message", args, c, stderr)
		}
	}
}

// TestEdgeAccessRetention: `segue edge --access-retention` deletes the
// access-record day files older than the retention when it starts (and
// hourly), keeps the recent ones, and marks the first kept day so a
// reconciliation reaching further back fails instead of reading nothing.
func TestEdgeAccessRetention(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	dir := t.TempDir()
	old := "access-" + time.Now().UTC().AddDate(0, 0, -40).Format(time.DateOnly) + ".log"
	recent := "access-" + time.Now().UTC().AddDate(0, 0, -3).Format(time.DateOnly) + ".log"
	for _, name := range []string{old, recent} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"edge", "-parent", r.URL, "-listen", "127.0.0.1:0", "-disk-dir", t.TempDir(),
			"-access-dir", dir, "-access-retention", "816h", "-log-level", "warn"}, &out, &errOut)
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, old)); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still there: %s", old, errOut.String())
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Errorf("segue edge exited %d: %s", c, errOut.String())
	}
	if _, err := os.Stat(filepath.Join(dir, recent)); err != nil {
		t.Fatalf("the recent day file: %v", err)
	}
	from := time.Now().AddDate(0, 0, -40)
	err := access.NewFileReader(dir).Scan(context.Background(), from, from.Add(time.Hour), func(access.Record) error { return nil })
	if !errors.Is(err, access.ErrPruned) {
		t.Fatalf("scan of a pruned day: %v, want ErrPruned", err)
	}
}

// TestEdgeMaxConns: `segue edge --max-conns N` holds at most N
// connections; the next one is served only once one of them closes.
// Before, every connection was accepted up to the open-file limit: 3,000
// idle ones were all held (and a request each keeps one 5 minutes), so a
// flood could take the descriptors the disk cache and parent fetches need.
func TestEdgeMaxConns(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	url, stop := startEdge(t, "-parent", r.URL, "-max-conns", "2")
	healthz := func(c *http.Client) error {
		resp, err := c.Get(url + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body) // read whole: the connection stays open
		return err
	}
	// Two clients, each keeping its connection open (keep-alive).
	var held []*http.Transport
	for range 2 {
		tr := &http.Transport{}
		held = append(held, tr)
		if err := healthz(&http.Client{Transport: tr}); err != nil {
			t.Fatal(err)
		}
	}
	third := &http.Client{Transport: &http.Transport{}, Timeout: 300 * time.Millisecond}
	if err := healthz(third); err == nil {
		t.Fatal("a third connection was served while two were held, want it to wait")
	}
	held[0].CloseIdleConnections()
	third.Timeout = 10 * time.Second
	if err := healthz(third); err != nil {
		t.Fatalf("after a held connection closed: %v", err)
	}
	for _, tr := range held {
		tr.CloseIdleConnections()
	}
	stop()
}

// TestEdgeHeaderLimit: the edge bounds a request's headers as the relay
// does (relay.MaxHeaderBytes, 431 past it); it kept net/http's 1 MiB, so
// each connection could hold a megabyte of unfinished headers.
func TestEdgeHeaderLimit(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	url, stop := startEdge(t, "-parent", r.URL)
	defer stop()
	for _, c := range []struct {
		size int
		want int
	}{{relay.MaxHeaderBytes / 2, http.StatusOK}, {2 * relay.MaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge}} {
		req, err := http.NewRequest(http.MethodGet, url+"/healthz", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Pad", strings.Repeat("a", c.size))
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("a %d-byte header: %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}

// startEdge runs `segue edge -listen 127.0.0.1:0 -log-level warn ARGS…`
// in-process and returns its base URL once it listens, and stop, which
// ends it and fails t unless it exited 0 (call it once).
func startEdge(t *testing.T, args ...string) (url string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"edge", "-listen", "127.0.0.1:0", "-log-level", "warn"}, args...), &out, &errOut)
	}()
	stop = func() {
		t.Helper()
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("segue edge exited %d: %s", c, errOut.String())
		}
	}
	re := regexp.MustCompile(`edge listening on (http://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop
		}
	}
	stop()
	t.Fatalf("segue edge did not start: %s", errOut.String())
	return "", nil
}
