package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/player/wav"
)

// readWAV reads a WAV file the test expects to exist.
func readWAV(t *testing.T, path string) *wav.Audio {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// noTempFiles fails when dir holds anything but the named files (a
// failed play must leave no partial output, temporary or final).
func noTempFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("%s holds %q, want %q", dir, got, want)
	}
}

// TestPlayDownloadedWithRelayDown is issue 9's scenario: `segue download
// album:…` on a device, the relay stopped, then `segue play` of a track
// and of the album plays them from the downloads, with the exact sample
// counts, printing the time to first audio and per-track progress; WAV
// output in s16, s24 and f32; without --tier the downloaded tier plays;
// --start lands on the sample (the output is
// the tail of the full play); a play that fails leaves no file.
func TestPlayDownloadedWithRelayDown(t *testing.T) {
	const tier = model.TierNormal // 44.1 kHz: output frames are the tracks' samples
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	ctx := t.Context()
	samples := map[model.TrackID]int64{}
	titles := map[model.TrackID]string{}
	var total int64
	for _, id := range r.Tracks {
		env, err := r.Server().Catalog().Manifest(ctx, id, tier)
		if err != nil {
			t.Fatal(err)
		}
		m, err := crypto.OpenManifest(r.CatalogKey, env)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := r.Server().Catalog().Track(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		samples[id], titles[id] = m.TotalSamples, tr.Title
		total += m.TotalSamples
	}
	dev := filepath.Join(t.TempDir(), "device")
	out := t.TempDir()
	base := []string{"--data", dev, "--relay", r.URL}
	cmd := func(args ...string) segueResult {
		t.Helper()
		return segue(t, append(args, base...)...)
	}
	res := cmd("download", "--user", "ada", "--password", "a long enough secret", "--signup", "--tier", string(tier), "album:"+string(r.Album))
	if res.code != 0 {
		t.Fatalf("download: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	tr := r.Tracks[1]
	trackWAV := filepath.Join(out, "track.wav")
	// No --tier: the tier the track was downloaded at.
	res = cmd("play", "track", string(tr), "--gain", "off", "--format", "s24", "--out", trackWAV)
	if res.code != 0 {
		t.Fatalf("play track with the relay down: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{"tier: normal (downloaded)", "first audio after ", "track 1/1  " + titles[tr], "ended"} {
		if !strings.Contains(res.stderr, w) {
			t.Fatalf("play track: stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	// A play that succeeds offline prints no engine log records (each
	// failed relay request was a WARN line, looking like a failure).
	if strings.Contains(res.stderr, "level=") {
		t.Errorf("play track with the relay down logged:\n%s", res.stderr)
	}
	if a := readWAV(t, trackWAV); a.Format != wav.S24 || int64(a.Frames()) != samples[tr] {
		t.Fatalf("track WAV: %v, %d frames; want s24, %d frames", a.Format, a.Frames(), samples[tr])
	}

	albumWAV := filepath.Join(out, "album.wav")
	res = cmd("play", "album", string(r.Album), "--tier", string(tier), "--gain", "off", "--format", "f32", "--out", albumWAV)
	if res.code != 0 {
		t.Fatalf("play album with the relay down: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for i, id := range r.Tracks {
		if w := "track " + string(rune('1'+i)) + "/4  " + titles[id]; !strings.Contains(res.stderr, w) {
			t.Fatalf("play album: stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	full := readWAV(t, albumWAV)
	if full.Format != wav.F32 || int64(full.Frames()) != total {
		t.Fatalf("album WAV: %v, %d frames; want f32, %d frames (the tracks' samples)", full.Format, full.Frames(), total)
	}

	// --start in its three spellings lands on the same sample: the output
	// is the full play's tail from there.
	at := int64(1.25 * 44100)
	for _, start := range []string{"1.25s", "0:01.25", "0:00:01.25"} {
		startWAV := filepath.Join(out, "start.wav")
		res = cmd("play", "album", string(r.Album), "--tier", string(tier), "--gain", "off", "--format", "f32", "--out", startWAV, "--start", start)
		if res.code != 0 {
			t.Fatalf("play --start %s: exit %d\n%s\n%s", start, res.code, res.stdout, res.stderr)
		}
		tail := readWAV(t, startWAV)
		want := full.Samples[2*at:]
		if len(tail.Samples) != len(want) {
			t.Fatalf("--start %s: %d frames, want %d", start, tail.Frames(), len(want)/2)
		}
		for i := range want {
			if tail.Samples[i] != want[i] {
				t.Fatalf("--start %s: sample %d is %v, the full play's is %v", start, i, tail.Samples[i], want[i])
			}
		}
		os.Remove(startWAV)
	}

	// A track no download holds cannot play with the relay down: exit
	// 1, and nothing is left behind.
	failWAV := filepath.Join(out, "fail.wav")
	res = cmd("play", "track", "not-downloaded", "--tier", string(tier), "--out", failWAV)
	if res.code != 1 || !strings.Contains(res.stderr, "GET /v1/tracks/not-downloaded: ") || strings.Contains(res.stderr, "kind(") {
		t.Fatalf("play of a track not downloaded: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	res = cmd("play", "album", string(r.Album), "--tier", string(tier), "--out", failWAV, "--start", "23:59:59")
	if res.code != 2 || !strings.Contains(res.stderr, "--start 23:59:59 is past the end of the first track ("+titles[r.Tracks[0]]+", 0:") {
		t.Fatalf("play from past the end: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	noTempFiles(t, out, "album.wav", "track.wav")
}

// TestPlayPlaylistSkipsUnknownTrack: a playlist holding a track the
// relay does not know plays the others, warns about the skipped one on
// stderr (from the player's status) and exits 0 with the file written;
// the progress names each track's title and artist.
func TestPlayPlaylistSkipsUnknownTrack(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	ctx := t.Context()
	dev := filepath.Join(t.TempDir(), "device")
	out := t.TempDir()
	base := []string{"--data", dev, "--relay", r.URL}
	cmd := func(args ...string) segueResult {
		t.Helper()
		return segue(t, append(args, base...)...)
	}
	res := cmd("playlist", "create", "Mixed", "--user", "ada", "--password", "a long enough secret", "--signup")
	if res.code != 0 {
		t.Fatalf("playlist create: exit %d\n%s", res.code, res.stderr)
	}
	id := strings.TrimSpace(res.stdout)
	tr0, tr1 := r.Tracks[0], r.Tracks[1]
	if res = cmd("playlist", "add", id, string(tr0), "unknowntrack", string(tr1)); res.code != 0 {
		t.Fatalf("playlist add: exit %d\n%s", res.code, res.stderr)
	}
	path := filepath.Join(out, "pl.wav")
	start := time.Now()
	res = cmd("play", "playlist", id, "--tier", "low", "--gain", "off", "--out", path)
	if res.code != 0 {
		t.Fatalf("play playlist with an unknown track: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("play took %v: the unknown track stalled the play", el)
	}
	var want int64
	for _, tr := range []model.TrackID{tr0, tr1} {
		m, err := r.Server().Catalog().Track(ctx, tr)
		if err != nil {
			t.Fatal(err)
		}
		a, err := r.Server().Catalog().Artist(ctx, m.ArtistIDs[0])
		if err != nil {
			t.Fatal(err)
		}
		if w := m.Title + " — " + a.Name; !strings.Contains(res.stderr, w) {
			t.Fatalf("progress lacks %q:\n%s", w, res.stderr)
		}
		want += m.Samples
	}
	for _, w := range []string{"warning: track 2/3 skipped: ", "unknowntrack", "warning: 1 of 3 tracks skipped"} {
		if !strings.Contains(res.stderr, w) {
			t.Fatalf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	// The low tier is resampled to 44.1 kHz: within a few frames.
	if got := int64(readWAV(t, path).Frames()); got < want-32 || got > want+32 {
		t.Fatalf("playlist WAV: %d frames, want the two known tracks' %d", got, want)
	}
	noTempFiles(t, out, "pl.wav")

	usage := []struct {
		args []string
		want string
	}{
		{[]string{"play", "playlist", "xyz"}, `usage: playlist id "xyz": not a Segue playlist id (expected automerge:<base58check> or the bare id printed by 'segue playlist create')`},
		{[]string{"play", "track", string(tr0), "--format", "s8"}, `--format "s8": want s16, s24 or f32`},
		{[]string{"play", "track", string(tr0), "--start", "soon"}, `--start: "soon": want a duration`},
		{[]string{"play", "track", string(tr0), "--start", "1:75"}, `--start: "1:75"`},
		{[]string{"play", "track", string(tr0), "--start", "-3s"}, `want a position from 0`},
		{[]string{"play", "track", string(tr0), "--crossfade", "13s"}, `--crossfade 13s: want 0s to 12s`},
		{[]string{"play", "track", string(tr0), "--crossfade", "-1s"}, `--crossfade -1s: want 0s to 12s`},
	}
	for _, u := range usage {
		res := cmd(u.args...)
		if res.code != 2 || !strings.Contains(res.stderr, u.want) {
			t.Fatalf("segue %q: exit %d, stderr %q; want 2 and %q", u.args, res.code, res.stderr, u.want)
		}
	}
}

// TestParsePosition covers --start's spellings and its bounds.
func TestParsePosition(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90s", 90 * time.Second, true},
		{"1m30s", 90 * time.Second, true},
		{"1:30", 90 * time.Second, true},
		{"01:30.25", 90*time.Second + 250*time.Millisecond, true},
		{"1:02:03.5", time.Hour + 2*time.Minute + 3500*time.Millisecond, true},
		{"0:00", 0, true},
		{"23:59:59", 24*time.Hour - time.Second, true},
		{"24h", 0, false},
		{"-1s", 0, false},
		{"90", 0, false},
		{"1:60", 0, false},
		{"1:60:00", 0, false},
		{"1:2:3:4", 0, false},
		{"1:-5", 0, false},
		{"1:1e1", 0, false},
		{":30", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parsePosition(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parsePosition(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// TestPlayArtistNameStalled: with a relay that accepts requests but no
// longer answers them (the network gone mid-way), `segue play` waited the
// HTTP client's 30 s for an artist's name before printing the first
// track line and ending (found playing a download with the relay
// stopped: 45 s for a 14 s track written to a file). The name lookup now
// gives up after artistLookup and asks no more: the play ends in a few
// seconds, naming the track by its title.
func TestPlayArtistNameStalled(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	stop := make(chan struct{})
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, "/v1/artists/") {
			select { // stalled until the client gives up or the test ends
			case <-req.Context().Done():
			case <-stop:
			}
			return
		}
		r.Server().Handler().ServeHTTP(w, req)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(func() { close(stop) })
	dev := filepath.Join(t.TempDir(), "device")
	path := filepath.Join(t.TempDir(), "t.wav")
	start := time.Now()
	res := segue(t, "play", "track", string(r.Tracks[0]), "--tier", "low", "--out", path,
		"--data", dev, "--relay", proxy.URL, "--user", "ada", "--password", "a long enough secret", "--signup")
	if res.code != 0 {
		t.Fatalf("play: exit %d\n%s", res.code, res.stderr)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Fatalf("play took %v with the artist lookup stalled\n%s", el, res.stderr)
	}
	if !strings.Contains(res.stderr, "track 1/1  ") {
		t.Fatalf("no track line:\n%s", res.stderr)
	}
}
