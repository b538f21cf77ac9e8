package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
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
	const admin = "kill9-admin-token-0123456789"
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
		r.kill9(t)
	case <-time.After(killAt):
		r.kill9(t)
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
		return openAda(t, devA, r.url)
	}
	e, d := openA()
	testbed.Register(t, e, "ada", "a")
	id, err := d.Playlists().Create(ctx, "Kill -9")
	if err != nil {
		t.Fatal(err)
	}
	var acked []model.TrackID
	compactions := 0
	for round := range 3 {
		if round > 0 {
			e, d = openA()
		}
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
		threshold, window := 20+rng.IntN(60), 1+rng.IntN(8)
		var compacted int
		got := burstUntilKilled(t, d, id, r, fmt.Sprintf("r%d-", round), threshold, window, func() {
			compacted = syncCompactions(t, r.url, admin)
			compactions += compacted
		})
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
		t.Logf("round %d: killed after %d acknowledged edits (threshold %d, window %d, %d compactions); the restarted relay has %d entries for %d acknowledged in all",
			round, len(got), threshold, window, compacted, len(list), len(acked))
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

// syncCompactions is the number of document compactions (snapshots and
// bundles) the relay at base made since it started, from its /metrics.
func syncCompactions(t *testing.T, base, admin string) int {
	t.Helper()
	b := adminGet(t, base, "/metrics", admin, 8<<20)
	n := 0
	for _, name := range []string{"segue_sync_compaction_snapshots_total", "segue_sync_compaction_bundles_total"} {
		m := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindSubmatch(b)
		if m == nil {
			t.Fatalf("/metrics has no %s", name)
		}
		v, err := strconv.Atoi(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		n += v
	}
	return n
}

// demoAlbumID is the id ingest gives the demo album.
const demoAlbumID = "alybt6zo7m3dyp2sr5"

// burstUntilKilled adds tracks prefix<n> to playlist id on d as fast as
// the relay acknowledges them, keeping window edits ahead of the last
// acknowledgement (Docs.WaitInSync) in flight; once threshold edits are
// acknowledged beforeKill runs and the relay is SIGKILLed with the
// window's edits being made and sent. It returns the acknowledged edits.
func burstUntilKilled(t *testing.T, d *core.Docs, id docs.DocumentID, r *relayProc, prefix string, threshold, window int, beforeKill func()) []model.TrackID {
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
	beforeKill()
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

// TestRelayKill9Plays SIGKILLs a real `segue relay` at seeded moments of
// a device's play upload (eight 31 s streams of a 35 s track in one
// signed batch, POST /v1/plays), in four rounds, each with a new device,
// and restarts it on the same data directory and address. The device
// retries what it holds (Engine.UploadPlays) until nothing is queued,
// and the relay's count of the track's streams must then be exactly
// eight per round: an upload the relay made durable before the kill but
// never answered is a duplicate on the retry, never a second count, and
// one it acknowledged is never lost.
func TestRelayKill9Plays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	testtool.Need(t, "oggenc") // ingest encodes the master's tiers
	ctx := t.Context()
	bin := buildSegue(t)
	tmp := t.TempDir()
	data, master := filepath.Join(tmp, "relay"), filepath.Join(tmp, "tone.wav")
	writeTone(t, master, 35*time.Second)
	side := `{"title": "Kill Tone", "artists": ["Segue Tester"], "album": "Kill Tone", "rights": [{"party": "Segue Tester", "role": "performer", "share": "1"}]}`
	if err := os.WriteFile(master+".json", []byte(side), 0o600); err != nil {
		t.Fatal(err)
	}
	res := segue(t, "ingest", "--data", data, "--quiet", master)
	m := regexp.MustCompile(`(?m)^(\S+)\tingested\t`).FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil {
		t.Fatalf("ingest: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	track := model.TrackID(m[1])
	const admin = "kill9-plays-admin-token-0123456789"
	r := startRelayProc(t, bin, "--data", data, "--admin-token", admin, "--log-level", "warn")
	addr := strings.TrimPrefix(r.url, "http://")
	rng := rand.New(rand.NewPCG(31, 2026))
	want := map[string]uint64{} // month → streams uploaded
	for round := range 4 {
		e := testbed.Device(t, &testbed.Relay{URL: r.url}, "ada")
		// Eight plays ending before now, starting after the account's
		// creation less the relay's 5 min skew, one after the other.
		base := time.Now().Add(-270 * time.Second)
		for i := range 8 {
			started := base.Add(time.Duration(i) * 33 * time.Second)
			ev := model.PlayEvent{TrackID: track, Tier: model.TierLow, Started: started, Played: 31 * time.Second,
				End: model.EndCompleted, IsStream: true, Source: model.SourceStream}
			if err := e.History().Append(ctx, ev); err != nil {
				t.Fatal(err)
			}
			want[started.UTC().Format("2006-01")]++
		}
		killAt := time.Duration(rng.IntN(8000)) * time.Microsecond
		type upload struct {
			sum core.PlayUpload
			err error
		}
		first := make(chan upload, 1)
		go func() {
			s, err := e.UploadPlays(ctx)
			first <- upload{s, err}
		}()
		var up upload
		answered := false
		select {
		case up = <-first:
			answered = true
		case <-time.After(killAt):
		}
		r.kill9(t)
		if !answered {
			up = <-first
		}
		r = startRelayProc(t, bin, "--data", data, "--admin-token", admin, "--log-level", "warn", "--listen", addr)
		retry, err := e.UploadPlays(ctx)
		if err != nil {
			t.Fatalf("round %d: upload after the restart: %v", round, err)
		}
		t.Logf("round %d: killed after %v; first upload %+v (%v), the retry %+v", round, killAt, up.sum, up.err, retry)
		if up.err == nil && (up.sum.Accepted != 8 || retry.Accepted+retry.Duplicate != 0) {
			t.Fatalf("round %d: the acknowledged upload %+v was sent again: %+v", round, up.sum, retry)
		}
		if n := up.sum.Accepted + retry.Accepted + retry.Duplicate; len(up.sum.Rejected)+len(retry.Rejected) != 0 || n < 8 {
			t.Fatalf("round %d: plays answered: first %+v, retry %+v; want all 8 accepted or duplicate", round, up.sum, retry)
		}
		if left, err := e.History().List(ctx, 0); err != nil || len(left) != 0 {
			t.Fatalf("round %d: %d plays still queued after the retry (%v)", round, len(left), err)
		}
		for month, n := range want {
			waitStreams(t, r.url, admin, string(track), month, n)
		}
	}
	r.stop(t)
}

// TestRelayKill9CatalogImport SIGKILLs a real `segue relay` at seeded
// moments of a catalog metadata import through it (`segue catalog import
// --relay`, 10,000 tracks: half a dozen transactions of 2,000 records), three
// rounds, each importing a catalog with the same ids and other titles.
// After each restart (the import journal's recovery runs at open) the
// relay is stopped and its store read: the titles of all 10,000 tracks
// must be the last committed import's or the killed one's, never a mix;
// the killed one's when it was acknowledged before the kill. Each import
// then completes when run again.
func TestRelayKill9CatalogImport(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := buildSegue(t)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "relay")
	const admin = "kill9-import-admin-token-0123456789"
	args := []string{"--data", data, "--admin-token", admin, "--log-level", "warn"}
	r := startRelayProc(t, bin, append([]string{"--init"}, args...)...)
	rng := rand.New(rand.NewPCG(20, 2026))

	files := make([]string, 3)
	tracks := make([][]catalogTrack, len(files))
	for k := range files {
		files[k] = filepath.Join(tmp, fmt.Sprintf("catalog-%d.jsonl", k))
		if code, _, stderr := runCmd("catalog", "generate", "--tracks", "10000", "--seed", fmt.Sprint(k+1), files[k]); code != 0 {
			t.Fatalf("catalog generate: exit %d: %s", code, stderr)
		}
		tracks[k] = catalogTracks(t, files[k])
	}
	// state stops the relay, returns which catalog's titles its store
	// holds (-1: no track), failing on a mix, and starts it again.
	state := func(t *testing.T) int {
		t.Helper()
		r.stop(t)
		defer func() { r = startRelayProc(t, bin, args...) }()
		ctx := t.Context()
		dd, err := catalog.OpenDataDirWith(ctx, data, catalog.DefaultDataDirOptions().WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		defer dd.Close()
		im := metadata.New(dd.Store, nil, metadata.DefaultOptions())
		// Catalogs whose title every track has so far (a generated
		// title can repeat in another catalog): -1 for none imported.
		cands := []int{-1, 0, 1, 2}
		for i, want := range tracks[0] {
			tr, err := im.Track(ctx, want.ID)
			switch {
			case errors.Is(err, metadata.ErrNotFound):
				cands = slices.DeleteFunc(cands, func(k int) bool { return k >= 0 })
			case err != nil:
				t.Fatal(err)
			default:
				cands = slices.DeleteFunc(cands, func(k int) bool { return k < 0 || tracks[k][i].ID != tr.ID || tracks[k][i].Title != tr.Title })
			}
			if len(cands) == 0 {
				t.Fatalf("the tracks' titles are a mix of imports (track %d, %s: %q, %v)", i, want.ID, tr.Title, err)
			}
		}
		if len(cands) != 1 {
			t.Fatalf("the store matches catalogs %v", cands)
		}
		return cands[0]
	}
	committed := -1
	for k, file := range files {
		killAt := time.Duration(200+rng.IntN(1000)) * time.Millisecond
		imported := make(chan int, 1)
		go func() {
			code, _, _ := runCmd("catalog", "import", "--relay", r.url, "--admin-token", admin, file)
			imported <- code
		}()
		code := -1
		select {
		case code = <-imported:
		case <-time.After(killAt):
		}
		r.kill9(t)
		if code == -1 {
			code = <-imported
		}
		r = startRelayProc(t, bin, args...)
		got := state(t)
		t.Logf("round %d: killed after %v, the import exited %d; the restarted relay has catalog %d's titles", k, killAt, code, got)
		switch {
		case code == 0 && got != k:
			t.Fatalf("round %d: the acknowledged import is not there after the kill: catalog %d's titles", k, got)
		case got != k && got != committed:
			t.Fatalf("round %d: catalog %d's titles, want %d (killed) or %d (committed before)", k, got, k, committed)
		}
		if code != 0 {
			if code, _, stderr := runCmd("catalog", "import", "--relay", r.url, "--admin-token", admin, file); code != 0 {
				t.Fatalf("round %d: import again after the kill: exit %d: %s", k, code, stderr)
			}
			if got := state(t); got != k {
				t.Fatalf("round %d: import again: catalog %d's titles", k, got)
			}
		}
		committed = k
	}
	r.stop(t)
}

// catalogTrack is a track line of a catalog import file.
type catalogTrack struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Title string `json:"title"`
}

// catalogTracks reads the track lines of the import file path in order.
func catalogTracks(t *testing.T, path string) []catalogTrack {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []catalogTrack
	for line := range bytes.Lines(b) {
		var tr catalogTrack
		if err := json.Unmarshal(line, &tr); err != nil {
			t.Fatal(err)
		}
		if tr.Type == "track" {
			out = append(out, tr)
		}
	}
	return out
}

// TestRelayInitKill9 SIGKILLs a real `segue relay --init` as soon as its
// catalog signing key file appears (before its store and identity file
// exist). Before, the directory was then refused by `segue relay` ("not a
// segue data directory, or damaged") and by `segue relay --init` ("not
// empty"): no relay without deleting files by hand. Now `segue relay`
// refuses it naming the interrupted initialisation, changing nothing, and
// `segue relay --init` run again starts the relay; should the kill come
// after the identity file, `segue relay` starts as on any initialised
// directory.
func TestRelayInitKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := buildSegue(t)
	data := filepath.Join(t.TempDir(), "relay")
	cmd := exec.Command(bin, "relay", "--init", "--data", data, "--listen", "127.0.0.1:0", "--insecure-fast-passwords", "--log-level", "warn")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(data, "keys", catalog.SigningKeyName+".key")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(key); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("no %s after 30 s", key)
		}
		time.Sleep(100 * time.Microsecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	var left []string
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(data, p)
			left = append(left, rel)
		}
		return nil
	})
	t.Logf("killed; the directory holds %q", left)
	if _, err := os.Stat(filepath.Join(data, catalog.IdentityFile)); err == nil {
		startRelayProc(t, bin, "--data", data, "--log-level", "warn").stop(t)
		return
	}
	before := sum(t, data)
	code, errOut := runBin(t, bin, "relay", "--data", data, "--listen", "127.0.0.1:0", "--insecure-fast-passwords")
	if code == 0 || !strings.Contains(errOut, "interrupted") || !strings.Contains(errOut, "--init") {
		t.Fatalf("segue relay over the interrupted --init: exit %d, want a refusal naming the interruption and --init:\n%s", code, errOut)
	}
	if sum(t, data) != before {
		t.Fatal("the refused start changed the directory")
	}
	startRelayProc(t, bin, "--init", "--data", data, "--log-level", "warn").stop(t)
	startRelayProc(t, bin, "--data", data, "--log-level", "warn").stop(t)
}

// openAda opens the device in dir against the relay at url, with ada's
// documents (the device is registered to ada, or is registered next).
func openAda(t *testing.T, dir, url string) (*core.Engine, *core.Docs) {
	t.Helper()
	e, err := core.Open(t.Context(), dir, core.DefaultOptions().WithOrigins(url).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.OpenDocs(t.Context(), "ada")
	if err != nil {
		t.Fatal(err)
	}
	return e, d
}
