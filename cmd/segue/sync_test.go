package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestSyncPeers runs `segue sync peers` against a real relay on
// 127.0.0.1 after `segue sync login --signup`: without --cert it uses the
// certificate the relay issued at login; --cert overrides it with a file,
// which must hold a valid certificate for this device. The account
// recorded at login is the one it acts for.
func TestSyncPeers(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	origin := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false)).URL
	dev := t.TempDir()
	segue := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{"sync", "--data", dev, "--relay", origin}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := segue("login", "--signup", "--user", "alice", "--password", "password1"); code != 0 {
		t.Fatalf("sync login exited %d: %s", code, stderr)
	}

	// The certificate stored at login, as an override file.
	e, err := core.Open(ctx, dev, core.DefaultOptions().WithOrigins(origin))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := e.DeviceCert(ctx)
	e.Close()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "cert")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, cert, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, append(bytes.Clone(cert[:len(cert)-1]), cert[len(cert)-1]^1), 0o600); err != nil {
		t.Fatal(err)
	}
	lan := []string{"--wait", "0s", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns=false"}
	tests := []struct {
		name string
		args []string
		code int
		out  string // in stdout when code is 0, else in stderr
	}{
		{"relay-issued certificate", nil, 0, "listening /ip4/127.0.0.1/tcp/"},
		{"--cert override", []string{"--cert", good}, 0, "listening /ip4/127.0.0.1/tcp/"},
		{"--cert with a tampered certificate", []string{"--cert", bad}, 1, "bad device certificate"},
		{"--cert missing file", []string{"--cert", filepath.Join(dir, "none")}, 1, "no such file"},
		{"--user of another account", []string{"--user", "bob"}, 2, "registered to alice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append(append([]string{}, lan...), tc.args...), "peers")
			code, stdout, stderr := segue(args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, stdout, stderr)
			}
			got := stderr
			if code == 0 {
				got = stdout
			}
			if !strings.Contains(got, tc.out) {
				t.Fatalf("output lacks %q:\nstdout: %s\nstderr: %s", tc.out, stdout, stderr)
			}
		})
	}
}

// TestSyncNowUpToDate runs `segue sync now` twice against a real relay:
// the second run finds the device already in sync (the relay has
// nothing to send) and must report that at once with exit 0, well
// within --wait, instead of waiting for traffic that never comes.
func TestSyncNowUpToDate(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, _, segue := signedUp(t, ctx, "alice")
	if code, _, stderr := segue("playlist", "create", "Road trip"); code != 0 {
		t.Fatalf("playlist new exited %d: %s", code, stderr)
	}
	const wait = 5 * time.Second
	for i := range 3 {
		start := time.Now()
		code, stdout, stderr := segue("sync", "--wait", wait.String(), "now")
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("sync now #%d exited %d after %s\nstdout: %s\nstderr: %s", i+1, code, took, stdout, stderr)
		}
		if !strings.Contains(stdout, "relay connected=true") || !strings.Contains(stdout, `error=""`) {
			t.Fatalf("sync now #%d: %s", i+1, stdout)
		}
		if took >= wait/2 {
			t.Fatalf("sync now #%d took %s: it waited for traffic instead of seeing the device in sync", i+1, took)
		}
	}
}

// TestSyncNowRelayDown: with the relay unreachable, `segue sync now`
// ended with "segue sync: context deadline exceeded" once --wait ran out;
// it now says it is not in sync because the relay is unreachable, naming
// it and the connection error.
func TestSyncNowRelayDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	_, _, segue := signedUp(t, ctx, "alice")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()
	code, stdout, stderr := segue("sync", "--relay", down, "--wait", "1s", "now")
	if code != 1 || strings.Contains(stderr, "context deadline exceeded") ||
		!strings.Contains(stderr, "not in sync after 1s: relay "+down+" unreachable: ") || !strings.Contains(stderr, "connection refused") {
		t.Fatalf("sync now with the relay down: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// TestSyncNowRevoked: after the device is deregistered, `segue sync now`
// fails at once saying the relay refused the device, instead of
// retrying the dead token until --wait runs out.
func TestSyncNowRevoked(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	origin := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithLicenses(true)).URL
	dev := t.TempDir()
	var out, errb bytes.Buffer
	if code := run(ctx, []string{"sync", "--data", dev, "--relay", origin, "login", "--signup", "--user", "alice", "--password", "password1"}, &out, &errb); code != 0 {
		t.Fatalf("sync login exited %d: %s", code, errb.String())
	}
	e, err := core.Open(ctx, dev, core.DefaultOptions().WithOrigins(origin))
	if err != nil {
		t.Fatal(err)
	}
	token, id := e.Token(), e.DeviceID()
	e.Close()
	testbed.Deregister(t, origin, id, token)
	const wait = 10 * time.Second
	start := time.Now()
	out.Reset()
	errb.Reset()
	code := run(ctx, []string{"sync", "--data", dev, "--relay", origin, "--wait", wait.String(), "now"}, &out, &errb)
	if took := time.Since(start); code != 1 || took >= wait/2 || !strings.Contains(errb.String(), "unauthorized") {
		t.Fatalf("sync now of a deregistered device: exit %d after %s\nstdout: %s\nstderr: %s", code, took, out.String(), errb.String())
	}
}

// TestSyncCraftedChangeRelayStays: a signed-up user's device opens the
// relay's /v1/sync WebSocket and sends, as the first message of a new
// document, a change automerge 0.5 aborts the process on when it applies
// it (amchunk.AbortingChange). The relay used to read it into a scratch
// document and die (SIGABRT) with every user's sessions; it answers with
// an error, creates nothing, and `segue sync now` still works.
func TestSyncCraftedChangeRelayStays(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	origin, dev, segue := signedUp(t, ctx, "mallory")
	e, err := core.Open(ctx, dev, core.DefaultOptions().WithOrigins(origin))
	if err != nil {
		t.Fatal(err)
	}
	token := e.Token()
	e.Close()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(origin, "http")+"/v1/sync?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(ctx, conn, "mallory-dev", wire.PeerMetadata{StorageID: "mallory-store"}); err != nil {
		t.Fatal(err)
	}
	raw, err := amchunk.AbortingChange()
	if err != nil {
		t.Fatal(err)
	}
	id, err := docs.NewDocumentID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := &wire.Message{Type: wire.TypeSync, SenderID: "mallory-dev", TargetID: "relay", DocumentID: id.String(),
		Data: (&msync.Message{Raw: [][]byte{raw}}).Encode()}
	if err := conn.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	for {
		m, err := conn.Recv(ctx)
		if err != nil {
			t.Fatalf("no answer from the relay: %v", err)
		}
		if m.Type == wire.TypeError {
			if !strings.Contains(m.Message, "unreadable change") {
				t.Fatalf("relay answered %q", m.Message)
			}
			break
		}
	}
	if code, stdout, stderr := segue("sync", "--wait", "10s", "now"); code != 0 || !strings.Contains(stdout, "relay connected=true") {
		t.Fatalf("sync now after the crafted change exited %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
}

// signedUp starts a relay without the demo album and signs user up from a
// new device directory with `segue sync login --signup`; it returns the
// relay's URL, the device directory and a runner of segue commands on
// that device and relay (exit code, stdout, stderr).
func signedUp(t *testing.T, ctx context.Context, user string) (origin, dev string, segue func(cmd string, args ...string) (int, string, string)) {
	t.Helper()
	origin = testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false)).URL
	dev = t.TempDir()
	segue = func(cmd string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{cmd, "--data", dev, "--relay", origin}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	if code, _, stderr := segue("sync", "login", "--signup", "--user", user, "--password", "password1"); code != 0 {
		t.Fatalf("sync login exited %d: %s", code, stderr)
	}
	return origin, dev, segue
}

// TestSyncNowAfterRemovedCollaborator: carol, removed from alice's
// private playlist, is told at her next `sync now` (exit 1, "refused …
// document unavailable"); once she unfollows it, `sync now` succeeds and
// says it is no longer shared with her. Before, it failed at every sync
// for ever: the device offers every document it holds.
func TestSyncNowAfterRemovedCollaborator(t *testing.T) {
	ctx := t.Context()
	origin, _, alice := signedUp(t, ctx, "alice")
	carolDev := t.TempDir()
	carol := func(cmd string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(ctx, append([]string{cmd, "--data", carolDev, "--relay", origin}, args...), &out, &errb)
		return code, out.String(), errb.String()
	}
	must := func(who func(string, ...string) (int, string, string), cmd string, args ...string) string {
		t.Helper()
		code, stdout, stderr := who(cmd, args...)
		if code != 0 {
			t.Fatalf("%s %q exited %d: %s%s", cmd, args, code, stdout, stderr)
		}
		return stdout
	}
	must(carol, "sync", "login", "--signup", "--user", "carol", "--password", "password1")
	id := strings.TrimSpace(must(alice, "playlist", "create", "Shared"))
	must(alice, "playlist", "collab", id, "carol")
	must(alice, "sync", "now")
	must(carol, "playlist", "follow", id)
	must(carol, "sync", "now")
	must(alice, "playlist", "collab", id)
	must(alice, "sync", "now")

	code, stdout, _ := carol("sync", "now")
	if code != 1 || !strings.Contains(stdout, "refused "+id+": document unavailable") {
		t.Fatalf("sync now while following: exit %d\n%s", code, stdout)
	}
	must(carol, "playlist", "unfollow", id)
	if out := must(carol, "sync", "now"); !strings.Contains(out, "not shared with you: "+id) || strings.Contains(out, "refused") {
		t.Fatalf("sync now after unfollow:\n%s", out)
	}
}

// TestSyncWaitArgs: `segue sync now --wait -1s` (or 0s) reported "not in
// sync after -1s: relay … unreachable" about a relay it never waited for,
// and a failed play upload, exit 1. A --wait of 0 or less for `now`, or a
// negative one for `peers`, is a usage error now, before the device opens;
// so is a --peer or --listen address that does not parse.
func TestSyncWaitArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"now", "--wait", "-1s"}, "--wait -1s: want a positive duration for sync now"},
		{[]string{"now", "--wait", "0s"}, "--wait 0s: want a positive duration for sync now"},
		{[]string{"peers", "--wait", "-5m"}, "--wait -5m0s: want 0 or more"},
		// A --peer or --listen that is no multiaddr was found only after the
		// node listened (exit 1, the listen addresses printed).
		{[]string{"peers", "--peer", "garbage"}, `--peer: p2p: bad peer address: failed to parse multiaddr "garbage"`},
		{[]string{"peers", "--peer", "/ip4/127.0.0.1/tcp/1"}, "--peer: p2p: bad peer address: invalid p2p multiaddr"},
		{[]string{"peers", "--listen", "garbage"}, `--listen: p2p: bad listen address: failed to parse multiaddr "garbage"`},
		{[]string{"peers", "--listen", "/ip4/127.0.0.1/tcp/0,"}, `--listen: p2p: bad listen address: failed to parse multiaddr ""`},
	} {
		data := filepath.Join(t.TempDir(), "device")
		var out, errb bytes.Buffer
		code := run(t.Context(), append([]string{"sync", "--data", data, "--relay", "http://127.0.0.1:1"}, tc.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.says) {
			t.Errorf("sync %q: exit %d, stderr %q; want 2 saying %q", tc.args, code, errb.String(), tc.says)
		}
		if _, err := os.Stat(data); !os.IsNotExist(err) {
			t.Errorf("sync %q: the device directory was made (%v)", tc.args, err)
		}
	}
}

// syncBuf is a bytes.Buffer a running command writes while the test
// reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSyncPeersDialsAgain: two devices of alice, each given the other's
// --peer, start at about the same time, so the first dials before the
// second listens. The laptop's `segue sync peers --peer <phone>` finds
// nothing at the phone's address, says so and dials again until --wait
// ends; the phone starts afterwards, and the laptop syncs with it and
// exits 0 (it lists its peers when its --wait ends, the phone's run
// lasting longer). Before, the first dial's "connection refused" ended the
// command with exit 1, on both devices in turn. The phone runs with
// --stable-peer-id: its address from a first run is good for the next.
func TestSyncPeersDialsAgain(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	origin := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false)).URL
	phone, laptop := t.TempDir(), t.TempDir()
	for _, dev := range []string{phone, laptop} {
		var errb bytes.Buffer
		if code := run(ctx, []string{"sync", "--data", dev, "--relay", origin, "login", "--signup", "--user", "alice", "--password", "password1"}, io.Discard, &errb); code != 0 {
			t.Fatalf("sync login exited %d: %s", code, errb.String())
		}
	}
	// The phone's address: its peer id (from a first run) and a free port.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	listen := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)
	var first bytes.Buffer
	if code := run(ctx, []string{"sync", "--data", phone, "--relay", origin, "--wait", "0s", "--listen", listen, "--mdns=false", "--stable-peer-id", "peers"}, &first, io.Discard); code != 0 {
		t.Fatalf("phone's first run exited %d", code)
	}
	phoneAddr := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(first.String(), "\n", 2)[0], "listening "))

	var lout, lerr syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"sync", "--data", laptop, "--relay", origin, "--wait", "8s", "--listen", "/ip4/127.0.0.1/tcp/0",
			"--mdns=false", "--peer", phoneAddr, "peers"}, &lout, &lerr)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(lerr.String(), "dialling again") {
		if time.Now().After(deadline) {
			t.Fatalf("the laptop never said it dials again; stderr: %s", lerr.String())
		}
		select {
		case code := <-done:
			t.Fatalf("the laptop exited %d at once; stderr: %s", code, lerr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	var pout syncBuf
	if code := run(ctx, []string{"sync", "--data", phone, "--relay", origin, "--wait", "12s", "--listen", listen, "--mdns=false", "--stable-peer-id", "peers"}, &pout, io.Discard); code != 0 {
		t.Fatalf("phone exited %d", code)
	}
	if code := <-done; code != 0 {
		t.Fatalf("the laptop exited %d; stderr: %s", code, lerr.String())
	}
	if !strings.Contains(lout.String(), "peer "+strings.SplitN(phoneAddr, "/p2p/", 2)[1]+" user=alice") {
		t.Fatalf("the laptop's output names no session with the phone:\n%s", lout.String())
	}
}
