package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/server/counting"
)

// TestPlaysReachTheRelay: plays made from the command line count on a
// real `segue relay` process. A device downloads an album of one 35 s
// track (over the relay's 30 s threshold) and plays it: the end of `segue
// play` sends the play, and the relay counts one stream; `segue sync now`
// then has nothing left to send, and a second one sends nothing again, so
// the count does not double; playing it again at once is no second listen
// (a file renders faster than real time: its play, stamped on the audio
// time line ending now, overlaps the first) and the relay refuses it. With
// the relay stopped, a second device of the account still plays it (exit
// 0) and says the play stays on the device; once the relay is back,
// `segue sync now` sends it and the count is 2. `segue reconcile` on the
// relay's data finds both (offline, from the download) streams backed by
// their license at the relay's recorded 30 s threshold.
func TestPlaysReachTheRelay(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	testtool.Need(t, "oggenc") // ingest encodes the master's tiers
	bin := buildSegue(t)
	tmp := t.TempDir()
	relayDir, dev, dev2 := filepath.Join(tmp, "relay"), filepath.Join(tmp, "device"), filepath.Join(tmp, "device-2")
	master := filepath.Join(tmp, "tone.wav")
	writeTone(t, master, 35*time.Second)
	side := `{"title": "Long Tone", "artists": ["Segue Tester"], "album": "Long Tone", "rights": [{"party": "Segue Tester", "role": "performer", "share": "1"}]}`
	if err := os.WriteFile(master+".json", []byte(side), 0o600); err != nil {
		t.Fatal(err)
	}
	res := segue(t, "ingest", "--data", relayDir, "--quiet", master)
	m := regexp.MustCompile(`(?m)^(\S+)\tingested\t.*\nalbum\t(\S+)\t`).FindStringSubmatch(res.stdout)
	if res.code != 0 || m == nil {
		t.Fatalf("ingest: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	track, album := m[1], m[2]
	month := time.Now().UTC().Format("2006-01")

	const admin = "plays-admin-token-0123456789"
	r := startRelayProc(t, bin, "--data", relayDir, "--admin-token", admin, "--log-level", "warn")
	on := func(dev string, code int, relay string, args ...string) segueResult {
		t.Helper()
		res := segue(t, append(args, "--data", dev, "--relay", relay)...)
		if res.code != code {
			t.Fatalf("segue %q: exit %d, want %d\nstdout: %s\nstderr: %s", args, res.code, code, res.stdout, res.stderr)
		}
		return res
	}
	device := func(code int, relay string, args ...string) segueResult {
		t.Helper()
		return on(dev, code, relay, args...)
	}
	wantIn := func(what, text, want string) {
		t.Helper()
		if !strings.Contains(text, want) {
			t.Fatalf("%s lacks %q:\n%s", what, want, text)
		}
	}
	wav := filepath.Join(tmp, "k.wav")
	device(0, r.url, "download", "--user", "ada", "--password", "a long enough secret", "--signup", "--tier", "very_high", "album:"+album)
	on(dev2, 0, r.url, "download", "--user", "ada", "--password", "a long enough secret", "--tier", "very_high", "album:"+album)

	res = device(0, r.url, "play", "album", album, "--out", wav)
	wantIn("play's stderr", res.stderr, "plays: 1 sent to the relay, 1 accepted\n")
	waitStreams(t, r.url, admin, track, month, 1)
	for range 2 {
		res = device(0, r.url, "sync", "now")
		wantIn("sync now's stdout", res.stdout, `plays sent=0 accepted=0 duplicate=0 rejected=0 queued=0 error=""`)
	}
	waitStreams(t, r.url, admin, track, month, 1)
	res = device(0, r.url, "play", "album", album, "--out", wav)
	wantIn("play's stderr, played again at once", res.stderr, "plays: 1 sent to the relay, 0 accepted, 1 rejected\n")

	r.stop(t)
	res = on(dev2, 0, r.url, "play", "album", album, "--out", wav)
	wantIn("play's stderr with the relay down", res.stderr, "plays: 1 kept on this device (relay unreachable); `segue sync now` or the next play sends them\n")

	r = startRelayProc(t, bin, "--data", relayDir, "--admin-token", admin, "--log-level", "warn")
	res = on(dev2, 0, r.url, "sync", "now")
	wantIn("sync now's stdout after the relay came back", res.stdout, `plays sent=1 accepted=1 duplicate=0 rejected=0 queued=0 error=""`)
	waitStreams(t, r.url, admin, track, month, 2)
	res = on(dev2, 0, r.url, "sync", "now")
	wantIn("the second sync now's stdout", res.stdout, `plays sent=0 accepted=0 duplicate=0 rejected=0 queued=0 error=""`)
	time.Sleep(500 * time.Millisecond) // an upload wakes the consumer at once
	waitStreams(t, r.url, admin, track, month, 2)
	r.stop(t)

	day := time.Now().UTC().Format(time.DateOnly)
	res = segue(t, "reconcile", "--data", relayDir, "--day", day)
	wantIn("reconcile", res.stdout, day+": 2 counted streams (0 online, 2 offline): 2 backed, 0 counted but unbacked; 0 (device, track) backed but uncounted\n"+
		"threshold 30s (the relay's counting threshold)\n")
}

// writeTone writes a stereo 44.1 kHz float WAV master of a quiet 440 Hz
// tone lasting d.
func writeTone(t *testing.T, path string, d time.Duration) {
	t.Helper()
	const rate = 44100
	n := int(d.Seconds() * rate)
	samples := make([]float32, 2*n)
	for i := range n {
		v := float32(0.25 * math.Sin(2*math.Pi*440*float64(i)/rate))
		samples[2*i], samples[2*i+1] = v, v
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := demoalbum.WriteWAV(f, samples, rate, 2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitStreams waits up to 10 s for the relay at base to have counted
// want streams of track in month (GET /v1/admin/counts), and fails
// showing the last count otherwise; more than want fails at once.
func waitStreams(t *testing.T, base, admin, track, month string, want uint64) {
	t.Helper()
	q := url.Values{"track": {track}, "month": {month}}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b := adminGet(t, base, "/v1/admin/counts?"+q.Encode(), admin, 1<<16)
		var a counting.CountsAnswer
		if err := json.Unmarshal(b, &a); err != nil {
			t.Fatal(err)
		}
		switch {
		case a.Streams > want:
			t.Fatalf("the relay counted %d streams of %s in %s, want %d", a.Streams, track, month, want)
		case a.Streams == want:
			return
		case time.Now().After(deadline):
			t.Fatalf("the relay counted %d streams of %s in %s after 10 s, want %d", a.Streams, track, month, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPlaysLines: what `segue play` and `segue sync now` print for the
// outcomes of an upload.
func TestPlaysLines(t *testing.T) {
	offline := fmt.Errorf("core: upload plays: POST /v1/plays: %w", core.ErrOffline)
	refused := errors.New("core: upload plays: POST /v1/plays: 401 unauthorized")
	busy := fmt.Errorf("core: upload plays: POST /v1/plays: %w", &api.RetryLaterError{Status: 503, After: 6500 * time.Millisecond})
	busyNoWait := fmt.Errorf("core: upload plays: POST /v1/plays: %w", &api.RetryLaterError{Status: 429})
	for _, tc := range []struct {
		name       string
		p          playsSent
		play, sync string
	}{
		{"nothing queued", playsSent{}, "",
			`plays sent=0 accepted=0 duplicate=0 rejected=0 queued=0 error=""` + "\n"},
		{"all accepted", playsSent{PlayUpload: core.PlayUpload{Accepted: 3}}, "plays: 3 sent to the relay, 3 accepted\n",
			`plays sent=3 accepted=3 duplicate=0 rejected=0 queued=0 error=""` + "\n"},
		{"duplicates and rejections", playsSent{PlayUpload: core.PlayUpload{Accepted: 1, Duplicate: 2, Rejected: map[string]int{"unknown_track": 1, "bad_field": 2}}},
			"plays: 6 sent to the relay, 1 accepted, 2 already there, 3 rejected\n",
			`plays sent=6 accepted=1 duplicate=2 rejected=3 queued=0 error=""` + "\nrejected 2 play(s): bad_field\nrejected 1 play(s): unknown_track\n"},
		{"held as dated after the relay's clock", playsSent{PlayUpload: core.PlayUpload{Accepted: 1, Held: 2}, queued: 2},
			"plays: 3 sent to the relay, 1 accepted, 2 held (dated after the relay's clock: is this device's clock ahead?)\n",
			`plays sent=3 accepted=1 duplicate=0 rejected=0 queued=2 error=""` + "\nheld 2 play(s) the relay dated after its clock (is this device's clock ahead?): kept on this device, sent again at the next sync\n"},
		{"relay unreachable", playsSent{queued: 2, err: offline},
			"plays: 2 kept on this device (relay unreachable); `segue sync now` or the next play sends them\n",
			`plays sent=0 accepted=0 duplicate=0 rejected=0 queued=2 error="` + offline.Error() + `"` + "\n"},
		{"refused after a batch", playsSent{PlayUpload: core.PlayUpload{Accepted: 500}, queued: 7, err: refused},
			"plays: 500 sent to the relay, 500 accepted; 7 kept on this device (not sent: " + refused.Error() + "); `segue sync now` or the next play sends them\n",
			`plays sent=500 accepted=500 duplicate=0 rejected=0 queued=7 error="` + refused.Error() + `"` + "\n"},
		{"relay busy", playsSent{queued: 2, err: busy},
			"plays: 2 kept on this device (relay busy, retry in 7 s); `segue sync now` or the next play sends them\n",
			`plays sent=0 accepted=0 duplicate=0 rejected=0 queued=2 error="` + busy.Error() + `"` + "\n"},
		{"relay busy without a wait", playsSent{queued: 2, err: busyNoWait},
			"plays: 2 kept on this device (relay busy, retry later); `segue sync now` or the next play sends them\n",
			`plays sent=0 accepted=0 duplicate=0 rejected=0 queued=2 error="` + busyNoWait.Error() + `"` + "\n"},
		{"queue unreadable", playsSent{queued: -1, err: offline},
			"plays: kept on this device (relay unreachable); `segue sync now` or the next play sends them\n",
			`plays sent=0 accepted=0 duplicate=0 rejected=0 queued=-1 error="` + offline.Error() + `"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var play, sync strings.Builder
			tc.p.printPlayLine(&play)
			tc.p.printSyncLine(&sync)
			if play.String() != tc.play {
				t.Errorf("play line %q, want %q", play.String(), tc.play)
			}
			if sync.String() != tc.sync {
				t.Errorf("sync line %q, want %q", sync.String(), tc.sync)
			}
		})
	}
}

// adminGet returns the body, at most limit bytes, of GET base+path with
// the admin token, failing t unless the answer is 200.
func adminGet(t *testing.T, base, path, admin string, limit int64) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v %s", path, resp.Status, err, b)
	}
	return b
}
