package core_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// Environment of the crash child (TestCrashDeviceHelper).
const (
	crashEnvDir    = "SEGUE_CRASH_DIR"
	crashEnvOrigin = "SEGUE_CRASH_ORIGIN"
	crashEnvDoc    = "SEGUE_CRASH_DOC"
	crashEnvPrefix = "SEGUE_CRASH_PREFIX"
)

// crashMaxEdits and crashMaxTime bound the child's burst should the
// parent fail to kill it.
const (
	crashMaxEdits = 20000
	crashMaxTime  = 30 * time.Second
)

// TestCrashDeviceHelper is the device process of TestDeviceKill9: it is
// skipped unless started by that test. It opens the engine at
// $SEGUE_CRASH_DIR (Badger on disk, registered), syncs with the relay at
// $SEGUE_CRASH_ORIGIN and appends tracks $SEGUE_CRASH_PREFIX<n> to
// playlist $SEGUE_CRASH_DOC as fast as it can, printing "ACK <track>"
// after each Add returned (the edit is committed), until it is killed.
func TestCrashDeviceHelper(t *testing.T) {
	dir := os.Getenv(crashEnvDir)
	if dir == "" {
		t.Skip("helper process of TestDeviceKill9")
	}
	ctx := context.Background()
	id, err := docs.ParseDocumentID(os.Getenv(crashEnvDoc))
	if err != nil {
		t.Fatal(err)
	}
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(os.Getenv(crashEnvOrigin)).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("READY")
	deadline := time.Now().Add(crashMaxTime)
	for i := 0; i < crashMaxEdits && time.Now().Before(deadline); i++ {
		track := model.TrackID(fmt.Sprintf("%s%05d", os.Getenv(crashEnvPrefix), i))
		if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), track); err != nil {
			t.Fatal(err)
		}
		fmt.Println("ACK", track)
	}
	d.Close()
	e.Close()
}

// TestDeviceKill9: a device process is SIGKILLed during a burst of
// playlist edits while syncing with a real relay. After restart on the
// same data directory every acknowledged edit is present (at most the
// one edit in flight is added beyond them, never anything lost or
// reordered), and once it resyncs another device of the user sees all of
// them through the relay, as does the device itself.
func TestDeviceKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("re-executes the test binary")
	}
	ctx := t.Context()
	origin := syncRelay(t)
	dir := t.TempDir()

	// Register the device and create the playlist, then close it: the
	// child process owns the directory during the burst.
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(origin).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SignUp(ctx, "alice", testPass); err != nil {
		t.Fatal(err)
	}
	if err := e.Register(ctx, "alice", testPass, "phone"); err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.Playlists().Create(ctx, "Burst")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}

	// Two rounds: the second restarts on a directory that already went
	// through one kill -9 and recovery.
	const rounds = 2
	rng := rand.New(rand.NewPCG(5, 9))
	var acked []model.TrackID
	for round := range rounds {
		killAfter := 50 + rng.IntN(250)
		got := runCrashChild(t, dir, origin, id, fmt.Sprintf("r%d-", round), killAfter)
		t.Logf("round %d: killed with %d acknowledged edits (threshold %d)", round, len(got), killAfter)
		acked = append(acked, got...)
	}

	// Restart on the same directory: every acknowledged edit is there.
	e, err = core.Open(ctx, dir, core.DefaultOptions().WithOrigins(origin).WithLogger(quiet()))
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	t.Cleanup(func() { e.Close() })
	d, err = e.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	local := trackList(t, d, id)
	checkAcked(t, local, acked, rounds)
	t.Logf("after restart: %d entries for %d acknowledged edits", len(local), len(acked))

	// Resync: another device of alice sees every edit via the relay.
	other := userDocs(t, origin, "alice")
	for _, x := range []*core.Docs{d, other} {
		if err := x.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := other.Playlists().Follow(ctx, id); err != nil {
		t.Fatal(err)
	}
	// The edit in flight at a kill may have reached the relay without
	// being durable on the device (the document's lock is released while
	// its write commits): the restarted device gets it back, so both
	// converge on the local entries plus at most that one per round.
	var final []model.TrackID
	waitUntil(t, "the other device sees every edit", func() bool {
		final = trackList(t, d, id)
		return len(final) >= len(local) && slices.Equal(trackList(t, other, id), final)
	})
	checkAcked(t, final, local, rounds)
	checkAcked(t, final, acked, rounds)
}

// runCrashChild starts the device process, SIGKILLs it once it has
// acknowledged killAfter edits, and returns the edits it acknowledged
// (every line it printed, including those still in the pipe at the
// kill).
func runCrashChild(t *testing.T, dir, origin string, id docs.DocumentID, prefix string, killAfter int) []model.TrackID {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestCrashDeviceHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvDir+"="+dir, crashEnvOrigin+"="+origin, crashEnvDoc+"="+id.String(), crashEnvPrefix+"="+prefix)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []model.TrackID
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		track, ok := strings.CutPrefix(line, "ACK ")
		if !ok {
			continue
		}
		acked = append(acked, model.TrackID(track))
		if !killed && len(acked) >= killAfter {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child exited before the kill: %v", err)
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", cmd.ProcessState)
	}
	return acked
}

// checkAcked asserts that the acknowledged edits appear in local in the
// order they were acknowledged, and that local holds at most one other
// entry per round: the edit in flight at the kill, which may or may not
// have committed.
func checkAcked(t *testing.T, local, acked []model.TrackID, rounds int) {
	t.Helper()
	i := 0
	for _, tr := range local {
		if i < len(acked) && tr == acked[i] {
			i++
		}
	}
	if i < len(acked) {
		t.Fatalf("acknowledged edit %s lost or reordered after kill -9 (local has %d entries, %d acknowledged)", acked[i], len(local), len(acked))
	}
	if extra := len(local) - len(acked); extra > rounds {
		t.Fatalf("local has %d entries for %d acknowledged edits in %d rounds", len(local), len(acked), rounds)
	}
}
