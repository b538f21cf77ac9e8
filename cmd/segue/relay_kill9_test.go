package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// kill9 SIGKILLs the relay process and waits for it to be gone.
func (p *relayProc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait() // "signal: killed"
}

// TestRelayKill9 SIGKILLs a real `segue relay` at seeded points and
// restarts it on the same data directory, which must open with no manual
// repair each time:
//
//   - in the middle of its first admin ingest (the demo album uploaded
//     through POST /v1/admin/ingest): after the restart the album is
//     either absent (and ingesting it again publishes it) or wholly there,
//     and then every tier of every track downloads and verifies on a
//     device (no track without its audio, no manifest without its blobs);
//     DIR/tmp holds nothing the killed upload left;
//   - three times in the middle of a device's burst of playlist edits
//     synced over the WebSocket: every edit the relay acknowledged before
//     the kill (Docs.WaitInSync returned) is on a new device of the user
//     that syncs with the restarted relay only, in order; then the editing
//     device, reopened, and a new device converge on the same entries.
func TestRelayKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	ctx := t.Context()
	bin := buildSegue(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "relay")
	const admin = "kill9-admin-token"
	args := []string{"--data", data, "--admin-token", admin, "--log-level", "warn"}
	rng := rand.New(rand.NewPCG(9, 2026))

	// Kill in the middle of the first ingest (upload ≈ 0.1 s, ingest
	// ≈ 0.3 s on a quiet machine: seeded over both).
	r := startRelayProc(t, bin, append([]string{"--init"}, args...)...)
	album := demoAlbumDir(t)
	killAt := time.Duration(rng.IntN(400)) * time.Millisecond
	ingested := make(chan error, 1)
	go func() {
		var out, errOut bytes.Buffer
		ingested <- runIngest(ctx, []string{"--relay", r.url, "--admin-token", admin, "--quiet", "--album", album}, &out, &errOut)
	}()
	var ingestErr error
	select {
	case ingestErr = <-ingested:
	case <-time.After(killAt):
	}
	r.kill9(t)
	if ingestErr == nil {
		ingestErr = <-ingested
	}
	t.Logf("ingest: killed after %v; the ingest returned %v", killAt, ingestErr)
	r = startRelayProc(t, bin, args...)
	if entries, err := os.ReadDir(filepath.Join(data, "tmp")); err != nil && !os.IsNotExist(err) || len(entries) != 0 {
		t.Fatalf("the restarted relay left the killed upload's files: %v %v", entries, err)
	}
	dl := t.TempDir()
	download := func(tier string) (int, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, []string{"download", "--data", dl, "--relay", r.url, "--user", "dl", "--password", testbed.Password, "--signup", "--tier", tier, "--offline-timeout", "20s", "album:" + demoAlbumID}, &out, &errOut)
		return code, out.String() + errOut.String()
	}
	if code, out := download("low"); code != 0 {
		if ingestErr == nil {
			t.Fatalf("the ingest was acknowledged before the kill, but its album does not download (exit %d):\n%s", code, out)
		}
		t.Logf("album absent after the kill (exit %d), ingesting again", code)
		var stdout, stderr bytes.Buffer
		if err := runIngest(ctx, []string{"--relay", r.url, "--admin-token", admin, "--quiet", "--album", album}, &stdout, &stderr); err != nil {
			t.Fatalf("ingest again after the kill: %v\n%s", err, stderr.String())
		}
		if n := strings.Count(stdout.String(), "\tingested\t"); n != 4 {
			t.Fatalf("ingest again after the kill: %d tracks ingested, want the 4 (none published by the killed one):\n%s", n, stdout.String())
		}
	}
	for _, tier := range []string{"low", "normal", "high", "very_high"} {
		if code, out := download(tier); code != 0 || !strings.Contains(out, "4/4 tracks") {
			t.Fatalf("download %s after the kill: exit %d\n%s", tier, code, out)
		}
	}

	// Kill during bursts of playlist edits.
	devA := filepath.Join(tmp, "device-a")
	openA := func() (*core.Engine, *core.Docs) {
		t.Helper()
		e, err := core.Open(ctx, devA, core.DefaultOptions().WithOrigins(r.url).WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.OpenDocs(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		return e, d
	}
	e, d := openA()
	testbed.Register(t, e, "ada", "a")
	id, err := d.Playlists().Create(ctx, "Kill -9")
	if err != nil {
		t.Fatal(err)
	}
	var acked []model.TrackID
	for round := range 3 {
		if round > 0 {
			e, d = openA()
		}
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
		threshold, window := 20+rng.IntN(60), 1+rng.IntN(8)
		got := burstUntilKilled(t, d, id, r, fmt.Sprintf("r%d-", round), threshold, window)
		acked = append(acked, got...)
		d.Close()
		e.Close()
		r = startRelayProc(t, bin, args...)
		// A device that never saw device A's edits: all it has is the
		// restarted relay's.
		b := testbed.Device(t, &testbed.Relay{URL: r.url}, "ada")
		bd := syncedDocs(t, b, id)
		list := playlistTracks(t, bd, id)
		bd.Close()
		t.Logf("round %d: killed after %d acknowledged edits (threshold %d, window %d); the restarted relay has %d entries for %d acknowledged in all",
			round, len(got), threshold, window, len(list), len(acked))
		if missing := notIn(list, acked); missing != "" {
			t.Fatalf("round %d: acknowledged edit %s lost by the relay's kill -9 (it has %d entries, %d were acknowledged)", round, missing, len(list), len(acked))
		}
	}

	// Device A comes back: it and a new device converge on A's entries
	// (its unacknowledged edits included).
	e, d = openA()
	defer e.Close()
	defer d.Close()
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	local := playlistTracks(t, d, id)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.WaitInSync(wctx); err != nil {
		t.Fatalf("device A after the kills: %v", err)
	}
	c := syncedDocs(t, testbed.Device(t, &testbed.Relay{URL: r.url}, "ada"), id)
	defer c.Close()
	if got := playlistTracks(t, c, id); strings.Join(trackStrings(got), ",") != strings.Join(trackStrings(local), ",") {
		t.Fatalf("a new device has %d entries, device A %d: not converged", len(got), len(local))
	}
	if missing := notIn(local, acked); missing != "" {
		t.Fatalf("device A lost its acknowledged edit %s", missing)
	}
	r.stop(t)
}

// demoAlbumID is the id ingest gives the demo album.
const demoAlbumID = "alybt6zo7m3dyp2sr5"

// burstUntilKilled adds tracks prefix<n> to playlist id on d as fast as
// the relay acknowledges them, keeping window edits ahead of the last
// acknowledgement (Docs.WaitInSync) in flight; once threshold edits are
// acknowledged the relay is SIGKILLed with the window's edits being
// made and sent. It returns the acknowledged edits.
func burstUntilKilled(t *testing.T, d *core.Docs, id docs.DocumentID, r *relayProc, prefix string, threshold, window int) []model.TrackID {
	t.Helper()
	ctx := t.Context()
	var made atomic.Int64
	permits := make(chan struct{}, threshold+window)
	for range window {
		permits <- struct{}{}
	}
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			case <-permits:
			}
			if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), model.TrackID(fmt.Sprintf("%s%04d", prefix, i))); err != nil {
				done <- err
				return
			}
			made.Add(1)
		}
	}()
	acked := 0
	for acked < threshold {
		n := int(made.Load())
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := d.WaitInSync(wctx)
		cancel()
		if err != nil {
			close(stop)
			t.Fatalf("waiting for the relay to acknowledge %d edits: %v", n, err)
		}
		for range n - acked {
			permits <- struct{}{}
		}
		acked = n
	}
	r.kill9(t)
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	out := make([]model.TrackID, acked)
	for i := range out {
		out[i] = model.TrackID(fmt.Sprintf("%s%04d", prefix, i))
	}
	return out
}

// syncedDocs opens e's documents for ada, syncs them with the relay and
// waits until playlist id is there and in sync.
func syncedDocs(t *testing.T, e *core.Engine, id docs.DocumentID) *core.Docs {
	t.Helper()
	ctx := t.Context()
	d, err := e.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := d.WaitInSync(wctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Playlists().Get(ctx, id); err != nil {
		t.Fatalf("playlist %s not on a device in sync: %v", id, err)
	}
	return d
}

// playlistTracks lists the tracks of playlist id on d in order.
func playlistTracks(t *testing.T, d *core.Docs, id docs.DocumentID) []model.TrackID {
	t.Helper()
	v, err := d.Playlists().Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]model.TrackID, 0, len(v.Entries))
	for _, e := range v.Entries {
		out = append(out, e.Track)
	}
	return out
}

// notIn returns the first of want that is not in list in want's order
// (list may hold more), or "".
func notIn(list, want []model.TrackID) model.TrackID {
	i := 0
	for _, tr := range list {
		if i < len(want) && tr == want[i] {
			i++
		}
	}
	if i < len(want) {
		return want[i]
	}
	return ""
}

func trackStrings(ids []model.TrackID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}
