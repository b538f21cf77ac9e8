package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/search"
)

// relayProc is a real `segue relay` process started by startRelayProc.
type relayProc struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
}

// startRelayProc runs `segue relay` with args on a free port and waits
// for its address; the test stops it with stop (a failing test kills it).
func startRelayProc(t *testing.T, bin string, args ...string) *relayProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"relay", "--listen", "127.0.0.1:0", "--insecure-fast-passwords"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &relayProc{cmd: cmd, stderr: &syncBuffer{}}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("segue relay printed no address:\n%s", p.stderr.String())
	}
	url, ok := strings.CutPrefix(lines.Text(), "relay listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", lines.Text())
	}
	p.url = url
	go func() {
		for lines.Scan() {
		}
	}()
	return p
}

// stop stops the relay the normal way (SIGINT, as Ctrl-C or a service
// manager does) and waits up to 60 s for it to exit cleanly.
func (p *relayProc) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("segue relay: %v\n%s", err, p.stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("segue relay still running 60 s after SIGINT:\n%s", p.stderr.String())
	}
}

// waitLog waits up to 30 s for re in the relay's log (copied from its
// stderr pipe, possibly after its address was printed) and returns the
// submatches.
func (p *relayProc) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the relay's log after 30 s:\n%s", re, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// indexOpened matches the index's open notice (logged at debug level).
var indexOpened = regexp.MustCompile(`msg="search: index opened" entries=(\d+) tokenised=(\d+) snapshot=(true|false)`)

// TestRelaySavesSearchSnapshotAtShutdown starts a new relay, ingests the
// demo album through it (indexed in memory, after the snapshot written
// at open), stops it with SIGINT and checks the index snapshot was
// written at shutdown without a warning; the next start must load it and
// tokenise no entry instead of rebuilding.
func TestRelaySavesSearchSnapshotAtShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := buildSegue(t)
	data := filepath.Join(t.TempDir(), "relay")
	snap := filepath.Join(data, search.SnapshotFile)
	const admin = "snapshot-admin-token-0123456789"

	r := startRelayProc(t, bin, "--init", "--data", data, "--admin-token", admin, "--log-level", "debug")
	m := r.waitLog(t, indexOpened)
	if m[1] != "0" {
		t.Fatalf("first start: want an empty index opened, got %q:\n%s", m, r.stderr.String())
	}
	empty, err := os.ReadFile(snap)
	if err != nil {
		t.Fatalf("no snapshot after the first open: %v", err)
	}
	var out, errOut bytes.Buffer
	if err := runIngest(context.Background(), []string{"--relay", r.url, "--admin-token", admin, "--album", demoAlbumDir(t)}, &out, &errOut); err != nil {
		t.Fatalf("ingest through the relay: %v\n%s", err, errOut.String())
	}
	r.stop(t)
	if strings.Contains(r.stderr.String(), "save index snapshot") {
		t.Fatalf("the snapshot was not saved at shutdown:\n%s", r.stderr.String())
	}
	saved, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(saved, empty) {
		t.Fatal("the snapshot still holds the empty index after the shutdown")
	}

	r = startRelayProc(t, bin, "--data", data, "--log-level", "debug")
	m = r.waitLog(t, indexOpened)
	// The demo album: 4 tracks, their album and artist.
	if n, _ := strconv.Atoi(m[1]); n < 6 || m[2] != "0" || m[3] != "true" {
		t.Fatalf("second start: %s, want ≥ 6 entries from the snapshot with none tokenised", m[0])
	}
	r.stop(t)
}
