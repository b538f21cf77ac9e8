package p2p_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Environment of the mDNS helper processes (TestHelperMDNS).
const (
	mdnsEnvRole    = "SEGUE_MDNS_ROLE" // "a" creates the playlist, "b" receives it
	mdnsEnvSeed    = "SEGUE_MDNS_SEED" // identity seed byte
	mdnsEnvService = "SEGUE_MDNS_SERVICE"
	mdnsEnvDoc     = "SEGUE_MDNS_DOC" // role b: the playlist to wait for
)

// mdnsHelperLife bounds a helper process should the parent vanish.
const mdnsHelperLife = 60 * time.Second

// TestMDNSDiscoveryInNetns: two device processes in a fresh network
// namespace, whose only interface is loopback with multicast switched on
// (zeroconf, under go-libp2p's mdns, announces and browses on every
// interface that is up and multicast, loopback included), find each
// other by mDNS alone — neither is given the other's address — and sync
// a playlist both ways. No multicast route is needed: zeroconf joins
// 224.0.0.251 and sets the outgoing interface per interface; with
// multicast off on lo the test fails (nothing is discovered). The
// namespace isolates the test from the host's network and from other
// test runs. Needs root and ip(8): skipped
// without them, failed under CI=true.
func TestMDNSDiscoveryInNetns(t *testing.T) {
	ipPath := testtool.Need(t, "ip")
	if os.Geteuid() != 0 {
		msg := "test needs root to create a network namespace"
		if testtool.InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	ns := "segue-mdns-" + hex.EncodeToString(rnd[:])
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipPath, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() {
		if out, err := exec.Command(ipPath, "netns", "del", ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns, err, out)
		}
	})
	ip("-n", ns, "link", "set", "lo", "up")
	ip("-n", ns, "link", "set", "lo", "multicast", "on")

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	service := "segue-test-" + hex.EncodeToString(rnd[:])
	start := func(role string, seed byte, extra ...string) (*bufio.Scanner, io.Closer, *exec.Cmd) {
		t.Helper()
		cmd := exec.Command(ipPath, "netns", "exec", ns, exe, "-test.run=^TestHelperMDNS$", "-test.count=1")
		cmd.Env = append(os.Environ(), mdnsEnvRole+"="+role, mdnsEnvSeed+"="+strconv.Itoa(int(seed)), mdnsEnvService+"="+service)
		cmd.Env = append(cmd.Env, extra...)
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			in.Close()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("helper %s: %v", role, err)
				}
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Errorf("helper %s did not exit", role)
			}
		})
		return bufio.NewScanner(out), in, cmd
	}
	// expect reads a helper's stdout until a line starting with prefix,
	// within the deadline, and returns the rest of that line.
	expect := func(sc *bufio.Scanner, who, prefix string, within time.Duration) string {
		t.Helper()
		got := make(chan string, 1)
		go func() {
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					got <- rest
					return
				}
			}
			close(got)
		}()
		select {
		case s, ok := <-got:
			if !ok {
				t.Fatalf("helper %s ended before %q", who, prefix)
			}
			return s
		case <-time.After(within):
			t.Fatalf("helper %s: no %q within %s", who, prefix, within)
		}
		return ""
	}

	aOut, _, _ := start("a", 11)
	doc := strings.TrimSpace(expect(aOut, "a", "DOC ", 20*time.Second))
	bOut, _, _ := start("b", 12, mdnsEnvDoc+"="+doc)
	peerOfB := expect(bOut, "b", "GOT ", 30*time.Second)
	if !strings.Contains(peerOfB, "user=alice") {
		t.Fatalf("b synced with %q", peerOfB)
	}
	expect(aOut, "a", "SAW b1", 30*time.Second)
}

// TestHelperMDNS is one device of TestMDNSDiscoveryInNetns, skipped
// unless started by it: a p2p node with mDNS on (loopback listener, no
// manual peers). Role a creates a playlist, prints "DOC <id>" and waits
// until b's track arrives ("SAW b1"); role b waits for the playlist
// ("GOT <peer>"), then appends b1. Both live until stdin closes.
func TestHelperMDNS(t *testing.T) {
	role := os.Getenv(mdnsEnvRole)
	if role == "" {
		t.Skip("helper process of TestMDNSDiscoveryInNetns")
	}
	ctx := context.Background()
	seed, err := strconv.Atoi(os.Getenv(mdnsEnvSeed))
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{byte(seed)}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueDeviceCert(catalogKey, "alice", id.SignPublic(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r, err := repo.Open(ctx, st, repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n, err := p2p.New(ctx, id, cert, catalogKey.Public().(ed25519.PublicKey), peer.NewRepoAdapter(r),
		p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(true, os.Getenv(mdnsEnvService)).WithLANKeys(openKeys("alice")...).
			WithLogger(slog.New(slog.NewTextHandler(testLog, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()

	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	poll := func(cond func() bool) bool {
		deadline := time.After(mdnsHelperLife)
		for !cond() {
			select {
			case <-deadline:
				return false
			case <-stdinClosed:
				return false
			case <-time.After(20 * time.Millisecond):
			}
		}
		return true
	}
	switch role {
	case "a":
		h, err := r.CreatePlaylist(ctx, "alice", "found by mDNS")
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "a1", "a2"); return err }); err != nil {
			t.Fatal(err)
		}
		fmt.Println("DOC", h.ID())
		if !poll(func() bool { return slices.Contains(tracksOf(t, r, h.ID()), "b1") }) {
			t.Fatal("b's edit never arrived")
		}
		fmt.Println("SAW b1")
	case "b":
		doc, err := docs.ParseDocumentID(os.Getenv(mdnsEnvDoc))
		if err != nil {
			t.Fatal(err)
		}
		if !poll(func() bool { return slices.Equal(tracksOf(t, r, doc), []model.TrackID{"a1", "a2"}) }) {
			t.Fatal("the playlist never arrived")
		}
		ps := n.Peers()
		if len(ps) != 1 {
			t.Fatalf("peers = %+v", ps)
		}
		fmt.Printf("GOT user=%s device=%s addr=%s\n", ps[0].User, ps[0].Device, ps[0].Addr)
		h, err := r.Get(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "b1"); return err }); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-stdinClosed:
	case <-time.After(mdnsHelperLife):
	}
}
