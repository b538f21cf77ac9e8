package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestSyncPeersLibp2pLogQuiet runs the built binary's `segue sync peers`
// with a listen address no interface has: it exits 1 with the error once.
// Before, go-libp2p's own logger (gologshim) also wrote three error
// records to stderr repeating it, each naming a source file in the build
// machine's module cache. GOLOG_LOG_LEVEL, go-libp2p's own setting, still
// brings them back for debugging.
func TestSyncPeersLibp2pLogQuiet(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	origin := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false)).URL
	dev := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"sync", "--data", dev, "--relay", origin, "login", "--signup", "--user", "alice", "--password", "password1"}, &out, &errb); code != 0 {
		t.Fatalf("sync login exited %d: %s", code, errb.String())
	}
	bin := buildSegue(t)
	t.Setenv("GOLOG_LOG_LEVEL", "")
	os.Unsetenv("GOLOG_LOG_LEVEL")
	code, stderr := runBin(t, bin, "sync", "--data", dev, "--relay", origin, "--listen", "/ip4/192.0.2.1/tcp/0", "--mdns=false", "--wait", "0s", "peers")
	if code != 1 || !strings.Contains(stderr, "p2p: start host") {
		t.Fatalf("exit %d, want 1 with the listen error\n%s", code, stderr)
	}
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || strings.Contains(stderr, "source=") {
		t.Fatalf("stderr holds more than the error, or source paths:\n%s", stderr)
	}
}
