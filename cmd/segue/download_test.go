package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/sync/docs"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// publishAlbum publishes one album of n tracks (a 64-byte header and two
// 4 KiB chunks of random bytes each, encrypted and signed like ingest's
// output) into the relay data directory dir, and returns its id.
func publishAlbum(t *testing.T, dir string, n int) model.AlbumID {
	t.Helper()
	return publishAlbumWith(t, dir, n, -1)
}

// publishAlbumWith is publishAlbum whose track number bad (when ≥ 0)
// has a signed manifest naming its first chunk one byte longer than the
// blob the relay serves, so every download of it fails its check.
func publishAlbumWith(t *testing.T, dir string, n, bad int) model.AlbumID {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	artist := model.Artist{ID: catalog.ArtistIDFor("cli"), Name: "cli"}
	rel := catalog.Release{
		Album:   model.Album{ID: catalog.AlbumIDFor("cli", "offline"), Title: "offline", ArtistIDs: []model.ArtistID{artist.ID}},
		Artists: []model.Artist{artist},
	}
	for i := range n {
		sha := sha256.Sum256(fmt.Appendf(nil, "cli master %d", i))
		id := catalog.TrackIDFromMaster(sha)
		var key crypto.ContentKey
		kh := sha256.Sum256(sha[:])
		copy(key[:], kh[:])
		put := func(idx uint64, size int) model.BlobRef {
			plain := bytes.Repeat([]byte{byte(i), byte(idx)}, size/2)
			enc := crypto.EncryptBlob(key, idx, plain)
			h, err := dd.Catalog.PutBlob(ctx, enc)
			if err != nil {
				t.Fatal(err)
			}
			return model.BlobRef{Size: int64(len(enc)), SHA256: h}
		}
		m := &model.Manifest{Version: model.ManifestVersion, TrackID: id, Tier: model.TierLow, Codec: model.CodecVorbis,
			SampleRate: 16000, Channels: 2, TotalSamples: 32000, Header: put(0, 64),
			Chunks: []model.Chunk{
				{Index: 0, Samples: 16000, Blob: put(1, 4096)},
				{Index: 1, FirstSample: 16000, Samples: 16000, Blob: put(2, 4096)},
			}}
		if i == bad {
			m.Chunks[0].Blob.Size++
		}
		env, err := crypto.SignManifest(dd.Signer, m)
		if err != nil {
			t.Fatal(err)
		}
		tr := model.Track{ID: id, Title: fmt.Sprint("track ", i), ArtistIDs: []model.ArtistID{artist.ID}, AlbumID: rel.Album.ID,
			TrackNumber: i + 1, DiscNumber: 1, SampleRate: 16000, Channels: 2, Samples: 32000,
			Tiers: []model.Tier{model.TierLow}, MasterSHA256: sha}
		rel.Album.TrackIDs = append(rel.Album.TrackIDs, id)
		rel.Tracks = append(rel.Tracks, catalog.TrackRelease{Track: tr, Streams: []catalog.Stream{{Tier: model.TierLow, Envelope: env, Key: key}}})
	}
	if err := dd.Catalog.Publish(ctx, rel); err != nil {
		t.Fatal(err)
	}
	return rel.Album.ID
}

// startRelayCmd runs `segue relay` in-process on a free port and returns
// its URL; the relay stops when the test ends.
func startRelayCmd(t *testing.T, data, admin string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	var code int
	exited := make(chan struct{}) // closed once code is set
	go func() {
		defer close(exited)
		code = run(ctx, []string{"relay", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-admin-token", admin, "-log-level", "warn"}, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
		if code != 0 {
			t.Errorf("segue relay exited %d: %s", code, errOut.String())
		}
	})
	re := regexp.MustCompile(`relay listening on (http://\S+)`)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case <-exited:
			t.Fatal("segue relay exited before it listened")
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("segue relay did not start")
	return ""
}

// runCmd runs one segue command in-process and returns its exit code and
// output.
func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestDownloadOfflineCommands runs `segue relay` (with the license server
// mounted), then `segue download` and `segue offline` against it: a
// download registers the device on first use and licenses and fetches an
// album; offline reports it and its license, lists the account's
// offline devices, renews it in one request (exit 1 when the renewal
// fails), and removes it; bad arguments exit 2; at the end the device
// deregisters itself.
func TestDownloadOfflineCommands(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 3)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	resp, err := http.Post(url+"/v1/accounts", "application/json", strings.NewReader(`{"username":"ada","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("sign up: %s", resp.Status)
	}
	dev := filepath.Join(t.TempDir(), "device")
	base := []string{"-data", dev, "-relay", url}

	type step struct {
		name string
		args []string
		code int
		want []string // substrings of stdout (exit 0) or stderr
	}
	steps := []step{
		{"download without refs", append([]string{"download"}, base...), 2, []string{"name at least one"}},
		{"download bad ref", append(append([]string{"download"}, base...), "song:x"), 2, []string{"want track:<id>, album:<id> or playlist:<id>"}},
		{"download bad playlist id", append(append([]string{"download"}, base...), "playlist:nope"), 2, []string{"playlist:nope"}},
		{"download bad tier", append(append([]string{"download"}, base...), "-tier", "ultra", "album:x"), 2, []string{"-tier"}},
		{"download id with a slash", append(append([]string{"download"}, base...), "album:../x"), 2, []string{`"album:../x": not a track or album id`}},
		{"download id too long", append(append([]string{"download"}, base...), "track:"+strings.Repeat("a", 5000)), 2, []string{"… (5006 bytes): not a track or album id"}},
		{"download no workers", append(append([]string{"download"}, base...), "-workers", "0", "album:x"), 2, []string{"--workers 0: want 1…64"}},
		{"download too many workers", append(append([]string{"download"}, base...), "-workers", "100000000", "album:x"), 2, []string{"--workers 100000000: want 1…64"}},
		{"download unregistered", append(append([]string{"download"}, base...), "-tier", "low", "album:"+string(album)), 2, []string{"not registered"}},
		{"download album", append(append([]string{"download"}, base...), "-user", "ada", "-password", "correct horse battery", "-tier", "low", "album:"+string(album)),
			0, []string{"3/3 tracks, 24.2 KiB in "}}, // the bytes offline reports as used
		{"offline status", append([]string{"offline"}, base...), 0,
			[]string{"3 of 3 tracks downloaded, 24.2 KiB used", "album " + string(album) + " (low)", "3/3", "license li", "3 tracks, expires", "(valid)"}},
		{"offline renew", append(append([]string{"offline"}, base...), "-renew"), 0, []string{"renewal: all licenses renewed", "3 tracks, expires"}},
		{"offline devices", append(append([]string{"offline"}, base...), "-devices"), 0, []string{"offline devices: 1 of 5", `"segue cli on `, "(this device)"}},
		{"offline bad deregister", append(append([]string{"offline"}, base...), "-deregister", "a/b"), 2, []string{`--deregister "a/b": not a device id`}},
		{"offline deregister unknown", append(append([]string{"offline"}, base...), "-deregister", "nosuchdevice"), 1, []string{"404", "device nosuchdevice"}},
		{"offline renew, relay unreachable", append(append([]string{"offline"}, base...), "-renew", "-relay", "http://127.0.0.1:1"), 1, []string{"renewal: download: renew:"}},
		{"offline bad remove", append(append([]string{"offline"}, base...), "-remove", "bogus"), 2, []string{"-remove"}},
		{"offline stray argument", append(append([]string{"offline"}, base...), "extra"), 2, []string{"unexpected arguments"}},
		{"offline remove", append(append([]string{"offline"}, base...), "-remove", "album:"+string(album), "-tier", "low"), 0, []string{"0 of 0 tracks downloaded, 0 B used"}},
	}
	run := func(s step) {
		code, out, errOut := runCmd(s.args...)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", s.name, code, s.code, out, errOut)
		}
		text := out
		if code != 0 {
			text = errOut
		}
		for _, w := range s.want {
			if !strings.Contains(text, w) {
				t.Fatalf("%s: output lacks %q:\n%s", s.name, w, text)
			}
		}
	}
	for _, s := range steps {
		run(s)
	}
	code, out, _ := runCmd(append([]string{"offline"}, base...)...)
	me, _, _ := strings.Cut(strings.TrimPrefix(out, "device "), ",")
	if code != 0 || me == "" {
		t.Fatalf("offline: exit %d, %q", code, out)
	}
	run(step{"offline deregister itself", append(append([]string{"offline"}, base...), "-deregister", me), 0, []string{"this device is deregistered: `segue sync login`"}})
	run(step{"offline after deregistering itself", append(append([]string{"offline"}, base...), "-devices"), 1, []string{"401"}})
}

// TestDownloadFailedTrackExits1: a track whose download fails (here its
// blob fails the manifest's check) makes `segue download` print the
// failure and the partial count and exit 1 instead of 0; `segue offline`
// run afterwards lists the failed track with its cause.
func TestDownloadFailedTrackExits1(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbumWith(t, relayDir, 3, 1)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	dev := filepath.Join(t.TempDir(), "device")
	code, out, errOut := runCmd("download", "-data", dev, "-relay", url, "-user", "ada", "-password", "correct horse battery", "-signup",
		"-tier", "low", "album:"+string(album))
	if code != 1 || !strings.Contains(out, "2/3 tracks") || !strings.Contains(errOut, "download incomplete: 1 of 3 tracks failed") ||
		!strings.Contains(errOut, "manifest says") {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// A later `segue offline`, a new process with the relay unreachable,
	// still says why the track is missing.
	code, out, errOut = runCmd("offline", "-data", dev, "-relay", "http://127.0.0.1:1")
	if code != 0 || !strings.Contains(out, "2/3") || !regexp.MustCompile(`(?m)^    \S+ failed \S+Z: .*manifest says`).MatchString(out) {
		t.Fatalf("offline: exit %d, want 0 and the failed track's cause\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestDownloadPlaylistCommand creates a playlist on one device (through
// core) and syncs it to the relay; then `segue download playlist:<url>`
// on a second, fresh device registers it, syncs once with the relay,
// downloads the playlist's tracks (and only those) and exits 0. Without
// credentials the unregistered device is a usage error.
func TestDownloadPlaylistCommand(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 3)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	const user, pass = "ada", "correct horse battery"
	resp, err := http.Post(url+"/v1/accounts", "application/json", strings.NewReader(`{"username":"ada","password":"correct horse battery"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	// Device A: a playlist of the album's first and third tracks, synced.
	a, err := core.Open(ctx, filepath.Join(t.TempDir(), "a"), core.DefaultOptions().WithOrigins(url))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.Register(ctx, user, pass, "phone"); err != nil {
		t.Fatal(err)
	}
	_, tracks, err := a.Album(ctx, album)
	if err != nil {
		t.Fatal(err)
	}
	da, err := a.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	defer da.Close()
	pl, err := da.Playlists().Create(ctx, "road trip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := da.Playlists().Add(ctx, pl, docs.AtEnd(), tracks[0].ID, tracks[2].ID); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := da.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := da.WaitSynced(ctx, start, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	dev := filepath.Join(t.TempDir(), "b")
	base := []string{"download", "-data", dev, "-relay", url, "-tier", "low"}
	if code, _, errOut := runCmd(append(base, "playlist:"+pl.URL())...); code != 2 || !strings.Contains(errOut, "not registered") {
		t.Fatalf("unregistered, no credentials: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runCmd(append(base, "-user", user, "-password", pass, "playlist:"+pl.URL())...)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !regexp.MustCompile(`^2/2 tracks, [0-9.]+ KiB in [0-9.]+ s\n$`).MatchString(out) || !regexp.MustCompile(`(?m)^\[ *[0-9.]+s\] tr\S+/low +\[#{20}\] 100% `).MatchString(errOut) {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out, errOut)
	}

	// Device B now holds exactly the playlist's two tracks, complete, and
	// remembers the request as a playlist download.
	b, err := core.Open(ctx, dev, core.DefaultOptions().WithOrigins(url))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := b.OpenDownloads(ctx, download.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer b.CloseDownloads()
	for i, tr := range tracks {
		if got, want := m.Downloaded(tr.ID, model.TierLow), i != 1; got != want {
			t.Errorf("track %d downloaded = %v, want %v", i, got, want)
		}
	}
	if got := m.Playlists(); len(got) != 1 || got[0] != pl.String() {
		t.Fatalf("playlist downloads %v, want [%s]", got, pl)
	}
}

// TestDownloadUnavailableAndFailedPlaylist runs the device commands
// against a real relay serving the demo album (through a front that can
// make license requests fail with 500; a 503 is a busy relay, which
// pauses: TestDownloadRelayBusy) for a playlist of a good track and
// one the catalog lacks. While licensing fails, download exits 1 and the
// later offline, offline --renew and play report the real cause, never a
// missing playlist resolver. Once it works, download leaves the unknown
// track out with its reason and downloads the other, which then plays
// with the relay gone; the album downloaded at a second tier counts its
// tracks, not its (track, tier) downloads.
func TestDownloadUnavailableAndFailedPlaylist(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	target, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	var failLicenses atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if failLicenses.Load() && req.URL.Path == "/v1/licenses" {
			http.Error(w, `{"error":"relay: internal error"}`, http.StatusInternalServerError)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	tmp := t.TempDir()
	t.Setenv("SEGUE_DEVICE", filepath.Join(tmp, "device"))
	t.Setenv("SEGUE_RELAY", front.URL)
	t.Setenv("SEGUE_USER", "ada")
	t.Setenv("SEGUE_PASSWORD", "a long enough secret")
	n := len(r.Tracks)
	tr0 := string(r.Tracks[0])
	const bogus = "trBOGUS"

	created := segue(t, "playlist", "--signup", "create", "P2")
	p := strings.TrimSpace(created.stdout)
	if created.code != 0 {
		t.Fatalf("create: %d %s", created.code, created.stderr)
	}
	wav := filepath.Join(tmp, "x.wav")
	steps := []struct {
		name   string
		fail   bool // license requests answer 500
		args   []string
		code   int
		stdout []string // substrings of stdout
		stderr []string // substrings of stderr
		not    []string // in neither
	}{
		{"add", false, []string{"playlist", "add", p, tr0, bogus}, 0, nil, nil, nil},
		{"download, licenses failing", true, []string{"download", "--tier", "low", "--sync-wait", "3s", "playlist:" + p}, 1,
			nil, []string{"500"}, []string{"resolver"}},
		{"offline after the failure", true, []string{"offline"}, 0,
			[]string{"playlist " + p + " (low)", "0/0", "error: ", "500"}, nil, []string{"resolver"}},
		{"offline --renew after the failure", true, []string{"offline", "--renew"}, 0,
			[]string{"error: ", "500"}, nil, []string{"resolver"}},
		{"play after the failure", true, []string{"play", "playlist", p, "--out", wav, "--gain", "off"}, 0,
			nil, []string{"1 of 2 tracks skipped"}, []string{"resolver"}},
		{"download", false, []string{"download", "--tier", "low", "--sync-wait", "3s", "playlist:" + p}, 0,
			[]string{"1/1 tracks, 1 unavailable, "}, []string{bogus + "/low", "unavailable (not_found): left out of playlist " + p}, []string{"resolver", "error"}},
		{"offline", false, []string{"offline"}, 0,
			[]string{"1 of 1 tracks downloaded, ", "playlist " + p + " (low)", "1/1", bogus + " unavailable (not_found): left out"}, nil, []string{"resolver", "error"}},
		{"album at low", false, []string{"download", "--tier", "low", "album:" + string(r.Album)}, 0,
			[]string{fmt.Sprintf("%d/%d tracks, ", n, n)}, nil, []string{"unavailable"}},
		{"album at normal", false, []string{"download", "--tier", "normal", "album:" + string(r.Album)}, 0,
			[]string{fmt.Sprintf("%d/%d tracks, ", n, n)}, nil, nil},
		{"offline, two tiers", false, []string{"offline"}, 0,
			[]string{fmt.Sprintf("%d of %d tracks downloaded (low %d/%d, normal %d/%d), ", n, n, n, n, n, n),
				fmt.Sprintf("album %s (normal)", r.Album), fmt.Sprintf("%d/%d", n, n)}, nil, nil},
	}
	for _, s := range steps {
		failLicenses.Store(s.fail)
		res := segue(t, s.args...)
		if res.code != s.code {
			t.Fatalf("%s: segue %q exited %d, want %d\nstdout: %s\nstderr: %s", s.name, s.args, res.code, s.code, res.stdout, res.stderr)
		}
		for _, w := range s.stdout {
			if !strings.Contains(res.stdout, w) {
				t.Fatalf("%s: stdout lacks %q\nstdout: %s\nstderr: %s", s.name, w, res.stdout, res.stderr)
			}
		}
		for _, w := range s.stderr {
			if !strings.Contains(res.stderr, w) {
				t.Fatalf("%s: stderr lacks %q\nstdout: %s\nstderr: %s", s.name, w, res.stdout, res.stderr)
			}
		}
		for _, w := range s.not {
			if strings.Contains(res.stdout+res.stderr, w) {
				t.Fatalf("%s: output has %q\nstdout: %s\nstderr: %s", s.name, w, res.stdout, res.stderr)
			}
		}
	}

	// The downloaded track plays with the relay gone; the other is
	// skipped at once.
	front.Close()
	res := segue(t, "play", "playlist", p, "--offline", "--out", wav, "--gain", "off")
	if res.code != 0 || !strings.Contains(res.stdout, "frames") || !strings.Contains(res.stderr, "1 of 2 tracks skipped") {
		t.Fatalf("offline play: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
}

// TestQuoteArg: error messages quote at most maxQuoted bytes of an
// argument, cut at a rune boundary, and give its length.
func TestQuoteArg(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"track:x", `"track:x"`},
		{strings.Repeat("a", maxQuoted), `"` + strings.Repeat("a", maxQuoted) + `"`},
		{strings.Repeat("a", 100), `"` + strings.Repeat("a", maxQuoted) + `"… (100 bytes)`},
		{strings.Repeat("a", 63) + "😀", `"` + strings.Repeat("a", 63) + `"… (67 bytes)`},
	} {
		if got := quoteArg(tc.in); got != tc.want {
			t.Errorf("quoteArg(%d bytes) = %s, want %s", len(tc.in), got, tc.want)
		}
	}
}

// TestDeviceLimitHint: a download refused for the offline-device limit
// says how to see and free a slot; other errors are left alone.
func TestDeviceLimitHint(t *testing.T) {
	limit := fmt.Errorf("album a1 (low): license: %w", download.ErrDeviceLimit)
	if err := deviceLimitHint(limit); !errors.Is(err, download.ErrDeviceLimit) || !strings.Contains(err.Error(), "segue offline --deregister ID") {
		t.Fatalf("deviceLimitHint(limit) = %v", err)
	}
	other := errors.New("relay down")
	if err := deviceLimitHint(other); err != other {
		t.Fatalf("deviceLimitHint(other) = %v, want it unchanged", err)
	}
}

// TestDownloadOfflineTimeout: a relay that goes away in the middle of a
// download (here a front that passes the licenses and the first blob,
// then drops every connection) used to keep `segue download` printing
// "paused: offline" until interrupted. With --offline-timeout it gives
// up once the downloads stayed paused offline that long, exits 1 saying
// what is downloaded and what is left, leaves no partial blob file, and
// a later `segue download` against the relay resumes and completes;
// a negative timeout is a usage error. An unreachable relay before
// anything resolved gives up too, naming the unresolved request.
func TestDownloadOfflineTimeout(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 3)
	relayURL := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	target, err := url.Parse(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var blobs atomic.Int32
	var gone atomic.Bool
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v1/blobs/") && blobs.Add(1) > 1 {
			gone.Store(true)
		}
		if gone.Load() {
			// The relay is gone: the connection drops without an answer.
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	dev := filepath.Join(t.TempDir(), "device")
	creds := []string{"-data", dev, "-user", "ada", "-password", "correct horse battery"}
	ref := "album:" + string(album)

	code, out, errOut := runCmd(append(append([]string{"download"}, creds...), "-signup", "-relay", front.URL, "-tier", "low", "-workers", "1", "-offline-timeout", "300ms", ref)...)
	if code != 1 || out != "0/3 tracks\n" || !strings.Contains(errOut, "paused: offline") ||
		!strings.Contains(errOut, "segue download: relay unreachable for 300ms (--offline-timeout), gave up: 0 of 3 tracks downloaded, 3 left; what is downloaded is kept and `segue download` run again resumes the rest") {
		t.Fatalf("relay gone: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !gone.Load() {
		t.Fatal("the front never went away")
	}
	tmps, err := os.ReadDir(filepath.Join(dev, "blobs", "tmp"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	if len(tmps) > 0 {
		t.Fatalf("partial blob files left: %v", tmps)
	}

	code, out, errOut = runCmd(append(append([]string{"download"}, creds...), "-relay", relayURL, "-tier", "low", ref)...)
	if code != 0 || !strings.Contains(out, "3/3 tracks") {
		t.Fatalf("resume: exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	code, out, errOut = runCmd(append(append([]string{"download"}, creds...), "-relay", "http://127.0.0.1:1", "-tier", "normal", "-offline-timeout", "100ms", ref)...)
	if code != 1 || out != "0/0 tracks\n" ||
		!strings.Contains(errOut, "gave up: 0 of 0 tracks downloaded, 0 left, not resolved yet (tracks unknown): album "+string(album)+" (normal);") {
		t.Fatalf("relay unreachable: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, _, errOut = runCmd(append(append([]string{"download"}, creds...), "-relay", relayURL, "-offline-timeout", "-1s", ref)...)
	if code != 2 || !strings.Contains(errOut, "--offline-timeout -1s: want ≥ 0") {
		t.Fatalf("negative timeout: exit %d, want 2\nstderr: %s", code, errOut)
	}
}

// TestDownloadRelayBusy: a relay that keeps refusing the licenses for now
// (503 with Retry-After) pauses `segue download` ("relay busy") instead
// of failing it; --offline-timeout bounds that pause as it bounds an
// unreachable relay's, and the message says the relay is busy. Before,
// the first 503 failed the request at once.
func TestDownloadRelayBusy(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 1)
	relayURL := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	target, err := url.Parse(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/v1/licenses" {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"relay: busy"}`, http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	dev := filepath.Join(t.TempDir(), "device")
	code, out, errOut := runCmd("download", "-data", dev, "-user", "ada", "-password", "correct horse battery", "-signup",
		"-relay", front.URL, "-tier", "low", "-offline-timeout", "300ms", "album:"+string(album))
	if code != 1 || out != "0/0 tracks\n" || !strings.Contains(errOut, "paused: relay busy") ||
		!strings.Contains(errOut, "segue download: relay busy for 300ms (--offline-timeout), gave up: 0 of 0 tracks downloaded") {
		t.Fatalf("relay busy: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

// TestDownloadReportsOnlyItsRequests: a request that failed in an
// earlier run (an album id the relay does not know) stays recorded, but
// a later `segue download` of something else reports and exits on its
// own requests: it exited 1 with the old album's error every time.
func TestDownloadReportsOnlyItsRequests(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 2)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	dev := filepath.Join(t.TempDir(), "device")
	base := []string{"download", "-data", dev, "-relay", url, "-user", "ada", "-password", "correct horse battery", "-signup", "-tier", "low"}
	for _, s := range []struct {
		ref     string
		code    int
		want    string // in stdout (exit 0) or stderr
		notWant string // in stderr
	}{
		{"album:nosuchalbum", 1, `album "nosuchalbum"`, ""},
		{"album:" + string(album), 0, "2/2 tracks", "segue download: album nosuchalbum"},
		{"album:" + string(album), 0, "2/2 tracks", "segue download: album nosuchalbum"},
		{"album:nosuchalbum", 1, `album "nosuchalbum"`, ""},
	} {
		code, out, errOut := runCmd(append(base, s.ref)...)
		text := out
		if code != 0 {
			text = errOut
		}
		if code != s.code || !strings.Contains(text, s.want) || s.notWant != "" && strings.Contains(errOut, s.notWant) {
			t.Fatalf("download %s: exit %d, want %d and %q\nstdout: %s\nstderr: %s", s.ref, code, s.code, s.want, out, errOut)
		}
	}
}

// TestDownloadStoreCloseFails: when the device's store fails to close
// (its db directory moved away while the command ran:
// badgerstore.ErrDirGone), `segue download` reports it and exits 1, as
// its last writes may be lost. Before, the close error was dropped and
// the command exited 0.
func TestDownloadStoreCloseFails(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	album := publishAlbum(t, relayDir, 1)
	relayURL := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	target, err := url.Parse(relayURL)
	if err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(t.TempDir(), "device")
	proxy := httputil.NewSingleHostReverseProxy(target)
	var moved atomic.Bool
	var moveErr atomic.Pointer[error]
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v1/blobs/") && moved.CompareAndSwap(false, true) {
			if err := os.Rename(filepath.Join(dev, "db"), filepath.Join(dev, "db.moved")); err != nil {
				moveErr.Store(&err)
			}
		}
		proxy.ServeHTTP(w, req)
	}))
	defer front.Close()
	creds := []string{"-data", dev, "-user", "ada", "-password", "correct horse battery", "-signup", "-relay", front.URL, "-tier", "low"}
	code, out, errOut := runCmd(append(append([]string{"download"}, creds...), "album:"+string(album))...)
	if p := moveErr.Load(); p != nil {
		t.Fatal(*p)
	}
	if !moved.Load() {
		t.Fatal("no blob was fetched: the store was never moved")
	}
	if code != 1 || !strings.Contains(errOut, "removed or moved while it was open") {
		t.Fatalf("store close failed: exit %d, want 1\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}
