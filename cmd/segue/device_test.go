package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player/wav"
)

func TestDeviceDirFor(t *testing.T) {
	tests := []struct {
		xdg, home, want string
	}{
		{"/xdg", "/home/ada", "/xdg/segue/device"},
		{"", "/home/ada", "/home/ada/.local/share/segue/device"},
		{"relative/xdg", "/home/ada", "/home/ada/.local/share/segue/device"}, // XDG: relative paths are ignored
		{"/xdg", "", "/xdg/segue/device"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := deviceDirFor(tc.xdg, tc.home); got != tc.want {
			t.Errorf("deviceDirFor(%q, %q) = %q, want %q", tc.xdg, tc.home, got, tc.want)
		}
	}
}

func TestClockMarkFileFor(t *testing.T) {
	const id = model.DeviceID("0123abcd")
	tests := []struct {
		xdg, home, want string
	}{
		{"/xdg", "/home/ada", "/xdg/segue/clock/0123abcd"},
		{"", "/home/ada", "/home/ada/.local/state/segue/clock/0123abcd"},
		{"relative/xdg", "/home/ada", "/home/ada/.local/state/segue/clock/0123abcd"}, // XDG: relative paths are ignored
		{"/xdg", "", "/xdg/segue/clock/0123abcd"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if got := clockMarkFileFor(tc.xdg, tc.home, id); got != tc.want {
			t.Errorf("clockMarkFileFor(%q, %q) = %q, want %q", tc.xdg, tc.home, got, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		pos     []string
		out     string
		wantErr bool
	}{
		{"flags first", []string{"--out", "x.wav", "playlist", "ID"}, []string{"playlist", "ID"}, "x.wav", false},
		{"flags after positionals", []string{"playlist", "ID", "--out", "x.wav"}, []string{"playlist", "ID"}, "x.wav", false},
		{"flags between positionals", []string{"playlist", "-out=x.wav", "ID"}, []string{"playlist", "ID"}, "x.wav", false},
		{"-- ends flags", []string{"describe", "--", "ID", "--out", "x"}, []string{"describe", "ID", "--out", "x"}, "d.wav", false},
		{"-- after a positional", []string{"describe", "ID", "--", "-text-"}, []string{"describe", "ID", "-text-"}, "d.wav", false},
		{"no arguments", nil, nil, "d.wav", false},
		{"unknown flag", []string{"playlist", "--bogus"}, nil, "", true},
		{"flag without value", []string{"playlist", "--out"}, nil, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			out := fs.String("out", "d.wav", "")
			pos, err := parseArgs(fs, tc.args)
			if tc.wantErr {
				if err == nil || !strings.HasPrefix(err.Error(), "usage: ") {
					t.Fatalf("err = %v, want a usage error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tc.pos) || *out != tc.out {
				t.Fatalf("positionals %q out %q, want %q %q", pos, *out, tc.pos, tc.out)
			}
		})
	}
}

// segueResult is what one in-process segue command did.
type segueResult struct {
	code           int
	stdout, stderr string
}

// segue runs one segue command in-process, bounded by a minute.
func segue(t *testing.T, args ...string) segueResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return segueResult{code, out.String(), errOut.String()}
}

// segueExit runs one segue command as segue does and fails the test
// unless it exits with code.
func segueExit(t *testing.T, code int, args ...string) segueResult {
	t.Helper()
	res := segue(t, args...)
	if res.code != code {
		t.Fatalf("segue %q exited %d, want %d\nstdout: %s\nstderr: %s", args, res.code, code, res.stdout, res.stderr)
	}
	return res
}

// TestDeviceCommandsShareOneDevice is the command-line scenario of the
// README against a real relay serving the demo album: with the device
// directory, relay, account and password in the environment, playlist,
// sync, play and offline all open the same device and act for the same
// account; the device registers (and signs up) once, on first use. A
// second device directory gets the playlist through the relay, and the
// WAV that `segue play playlist` writes holds exactly the playlist's
// tracks as oggdec decodes them.
func TestDeviceCommandsShareOneDevice(t *testing.T) {
	oggdec := testtool.Need(t, "oggdec")
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	tmp := t.TempDir()
	dir, dir2 := filepath.Join(tmp, "device"), filepath.Join(tmp, "device2")
	const password = "a long enough secret"
	t.Setenv("SEGUE_DEVICE", dir)
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_USER", "ada")
	t.Setenv("SEGUE_PASSWORD", "")
	var outputs []string
	step := func(name string, code int, want []string, args ...string) segueResult {
		t.Helper()
		res := segue(t, args...)
		outputs = append(outputs, res.stdout, res.stderr)
		if res.code != code {
			t.Fatalf("%s: segue %q exited %d, want %d\nstdout: %s\nstderr: %s", name, args, res.code, code, res.stdout, res.stderr)
		}
		text := res.stdout
		if code != 0 {
			text = res.stderr
		}
		for _, w := range want {
			if !strings.Contains(text, w) {
				t.Fatalf("%s: segue %q: output lacks %q\nstdout: %s\nstderr: %s", name, args, w, res.stdout, res.stderr)
			}
		}
		return res
	}

	step("unregistered device", 2, []string{"segue offline: usage: device not registered: pass --user and --password once"}, "offline")
	t.Setenv("SEGUE_PASSWORD", password)
	step("no account yet, no --signup", 1, []string{"register as ada: wrong password or no such account (--signup creates it)"}, "playlist", "list")
	created := step("sign up, register, create", 0, nil, "playlist", "--signup", "create", "Road", "trip")
	id := strings.TrimSpace(created.stdout)
	if !strings.Contains(created.stderr, "registered device ") || !strings.Contains(created.stderr, " to ada at "+r.URL) {
		t.Fatalf("no registration notice on stderr: %q", created.stderr)
	}
	tr0, tr1 := string(r.Tracks[0]), string(r.Tracks[1])
	step("add", 0, []string{`"Road trip" owner=ada`, "  0  ", tr0, "  1  ", tr1}, "playlist", "add", id, tr0, tr1)
	step("sync now", 0, []string{"relay connected=true", `error=""`}, "sync", "now")
	status := step("sync status", 0, []string{", user ada: "}, "sync", "status")

	step("--signup on a registered device", 0, nil, "playlist", "list", "--signup")
	step("wrong password with --signup on a new device", 1, []string{"register as ada: ", "wrong username or password", "; sign up: ", "account exists"}, "offline", "--data", dir2, "--signup", "--password", "not the password")

	// The same account on a second device, by flags this time: --signup
	// finds the account exists and registers; the playlist comes through
	// the relay.
	step("second device syncs", 0, []string{"relay connected=true"}, "sync", "now", "--data", dir2, "--user", "ada", "--password", password, "--signup")
	step("second device has the playlist", 0, []string{`"Road trip" owner=ada`, tr0, tr1}, "playlist", "show", id, "--data", dir2)

	wavPath := filepath.Join(tmp, "x.wav")
	played := step("play playlist", 0, nil, "play", "playlist", id, "--out", wavPath, "--gain", "off")
	offline := step("offline", 0, []string{", user ada, trusted time", "0 of 0 tracks downloaded"}, "offline")
	other := step("offline on the second device", 0, []string{", user ada, "}, "offline", "--data", dir2)

	devRE := regexp.MustCompile(`device ([0-9a-f]{32}),`)
	ids := []string{}
	for _, s := range []string{status.stdout, offline.stdout, other.stdout} {
		m := devRE.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no device id in %q", s)
		}
		ids = append(ids, m[1])
	}
	if ids[0] != ids[1] || ids[0] == ids[2] {
		t.Fatalf("device ids: sync %s, offline %s, second device %s: want the first two equal, the third different", ids[0], ids[1], ids[2])
	}

	// The WAV holds the two tracks back to back, sample for sample what
	// libvorbis decodes from the relay's high tier (gain off).
	var want []float32
	for _, tr := range r.Tracks[:2] {
		want = append(want, oggdecSamples(t, oggdec, r, tr)...)
	}
	b, err := os.ReadFile(wavPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wav.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rate != 44100 || got.Channels != 2 || len(got.Samples) != len(want) {
		t.Fatalf("WAV: %d Hz × %d, %d samples; want 44100 Hz × 2, %d samples", got.Rate, got.Channels, len(got.Samples), len(want))
	}
	if !strings.Contains(played.stdout, fmt.Sprintf("wrote %s: %d frames", wavPath, len(want)/2)) {
		t.Fatalf("play output %q does not report %d frames", played.stdout, len(want)/2)
	}
	var worst float64
	for i := range want {
		worst = max(worst, math.Abs(float64(got.Samples[i]-want[i])))
	}
	if worst > 2.0/32768 {
		t.Fatalf("WAV differs from oggdec by up to %g (more than 2 LSB)", worst)
	}

	// Usage errors exit 2 and say what is wrong; none opens the device
	// for another account.
	usage := []struct {
		name string
		args []string
		want string
	}{
		{"play without arguments", []string{"play"}, "want track|album|playlist ID"},
		{"play unknown kind", []string{"play", "song", "x"}, "want track|album|playlist ID"},
		{"play bad playlist id", []string{"play", "playlist", "not-a-doc-id"}, "usage: "},
		{"play bad tier", []string{"play", "track", tr0, "--tier", "ultra"}, "usage: "},
		{"play empty tier", []string{"play", "track", tr0, "--tier", ""}, "--tier"},
		{"play bad gain", []string{"play", "track", tr0, "--gain", "loud"}, "--gain"},
		{"playlist without subcommand", []string{"playlist"}, "playlist list|create NAME"},
		{"playlist unknown subcommand", []string{"playlist", "frobnicate"}, `unknown playlist command "frobnicate"`},
		{"playlist add without tracks", []string{"playlist", "add", id}, "playlist add needs 2 argument(s)"},
		{"sync without subcommand", []string{"sync"}, "sync login | status | now | peers"},
		{"sync unknown subcommand", []string{"sync", "later"}, `unknown sync command "later"`},
		{"sync login without user", []string{"sync", "login", "--user="}, "login needs --user and --password"},
		{"offline stray argument", []string{"offline", "extra"}, "unexpected arguments"},
		{"offline bad remove", []string{"offline", "--remove", "song:x"}, "--remove"},
		{"unknown flag", []string{"offline", "--origin", r.URL}, "flag provided but not defined: -origin"},
		{"old password flag", []string{"play", "--pass", password, "track", tr0}, "flag provided but not defined: -pass"},
		{"bad relay URL", []string{"offline", "--relay", "ftp://relay"}, "--relay"},
		{"bad user name", []string{"offline", "--user", "Ada!"}, "--user"},
		{"another account", []string{"playlist", "list", "--user", "bob"}, "registered to ada"},
	}
	for _, tc := range usage {
		step(tc.name, 2, []string{tc.want}, tc.args...)
	}
	for _, o := range outputs {
		if strings.Contains(o, password) {
			t.Fatalf("the password appears in an output:\n%s", o)
		}
	}
}

// oggdecSamples decodes the demo album's high tier of track with oggdec
// and returns its interleaved samples.
func oggdecSamples(t *testing.T, oggdec string, r *testbed.Relay, track model.TrackID) []float32 {
	t.Helper()
	enc, err := r.Encoded(track, model.TierHigh)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "t.ogg"), filepath.Join(dir, "t.wav")
	if err := os.WriteFile(in, enc, 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(oggdec, "-Q", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("oggdec: %v: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	a, err := wav.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return a.Samples
}

// TestCollaboratorCannotMakePublic: bob, collaborator on ada's
// playlist, tries to make it public on his device: the device refuses at
// once (exit 1, naming the owner), as the relay would (before, the edit
// was "done", and the next sync printed the relay's refusal and set it
// aside); bob's copy and ada's playlist stay private, and sync succeeds.
func TestCollaboratorCannotMakePublic(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false))
	tmp := t.TempDir()
	ada, bob := filepath.Join(tmp, "ada"), filepath.Join(tmp, "bob")
	const password = "a long enough secret"
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_PASSWORD", password)
	adaFlags := []string{"--data", ada, "--user", "ada", "--signup"}
	bobFlags := []string{"--data", bob, "--user", "bob", "--signup"}
	id := strings.TrimSpace(segueExit(t, 0, append([]string{"playlist", "create", "Mix"}, adaFlags...)...).stdout)
	segueExit(t, 0, append([]string{"playlist", "list"}, bobFlags...)...) // bob's account exists before he is named
	segueExit(t, 0, append([]string{"playlist", "collab", id, "bob"}, adaFlags...)...)
	segueExit(t, 0, append([]string{"sync", "now"}, adaFlags...)...)
	segueExit(t, 0, append([]string{"playlist", "follow", id}, bobFlags...)...)
	segueExit(t, 0, append([]string{"sync", "now"}, bobFlags...)...)
	res := segueExit(t, 1, append([]string{"playlist", "public", id, "true"}, bobFlags...)...)
	if !strings.Contains(res.stderr, "only the playlist's owner may change that (owner \"ada\")") {
		t.Fatalf("bob's public: %q", res.stderr)
	}
	segueExit(t, 1, append([]string{"playlist", "collab", id, "bob", "eve"}, bobFlags...)...)
	segueExit(t, 0, append([]string{"sync", "now"}, bobFlags...)...)
	if show := segueExit(t, 0, append([]string{"playlist", "show", id}, bobFlags...)...); !strings.Contains(show.stdout, "public=false") {
		t.Fatalf("bob's playlist after his refused change:\n%s", show.stdout)
	}
	// A new device of ada's gets the playlist from the relay: private.
	ada2 := []string{"--data", filepath.Join(tmp, "ada2"), "--user", "ada"}
	segueExit(t, 0, append([]string{"sync", "now"}, ada2...)...)
	if show := segueExit(t, 0, append([]string{"playlist", "show", id}, ada2...)...); !strings.Contains(show.stdout, "public=false") || !strings.Contains(show.stdout, "collaborators=[bob]") {
		t.Fatalf("ada's playlist after bob's refused change:\n%s", show.stdout)
	}
}

// TestDeviceCommandsRefuseRelayData: a device command given a relay data
// directory as --data (a mix-up of the two --data flags) exits 2 naming
// the mistake, and writes nothing into it: it created the device's keys
// and records in the relay's keys directory and store.
func TestDeviceCommandsRefuseRelayData(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	publishAlbum(t, relayDir, 1)
	before, err := os.ReadDir(filepath.Join(relayDir, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"playlist", "list"},
		{"sync", "status"},
		{"offline"},
		{"search", "--offline", "x"},
		{"private"},
		{"play", "track", "x"},
		{"download", "-user", "ada", "-password", "correct horse battery", "track:x"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, out, errOut := runCmd(append(args, "-data", relayDir, "-relay", "http://127.0.0.1:1")...)
			if code != 2 || !strings.Contains(errOut, "is a relay data directory") {
				t.Fatalf("exit %d, want 2 and the mix-up named\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			after, err := os.ReadDir(filepath.Join(relayDir, "keys"))
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Fatalf("keys directory changed: %d entries, had %d", len(after), len(before))
			}
		})
	}
}

// deviceCommands are device commands that open --data, one of each
// kind, for the tests of what they leave there.
var deviceCommands = [][]string{
	{"playlist", "list"},
	{"sync", "status"},
	{"sync", "now"},
	{"sync", "login"},
	{"offline"},
	{"search", "--offline", "x"},
	{"private", "on"},
	{"friends"},
	{"follow", "bob"},
	{"play", "track", "x"},
	{"download", "track:x"},
}

// TestUnregisteredDataLeftAsIs: a device command without --user and
// --password on a --data that holds no device (a typo) exits 2 "not
// registered" and creates nothing: it made the directory with db/ and
// keys/ in it before failing. An empty directory stays empty.
func TestUnregisteredDataLeftAsIs(t *testing.T) {
	for _, args := range deviceCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("SEGUE_USER", "")
			t.Setenv("SEGUE_PASSWORD", "")
			tmp := t.TempDir()
			for _, tc := range []struct {
				name, dir string
				exists    bool
			}{
				{"missing", filepath.Join(tmp, "typo"), false},
				{"empty", filepath.Join(tmp, "empty"), true},
			} {
				if tc.exists {
					if err := os.Mkdir(tc.dir, 0o700); err != nil {
						t.Fatal(err)
					}
				}
				code, out, errOut := runCmd(append(args, "-data", tc.dir, "-relay", "http://127.0.0.1:1")...)
				if code != 2 || !strings.Contains(errOut, "usage: ") ||
					!(strings.Contains(errOut, "not registered") || strings.Contains(errOut, "login needs --user and --password")) {
					t.Fatalf("%s --data: exit %d, want 2 and not registered\nstdout: %s\nstderr: %s", tc.name, code, out, errOut)
				}
				ents, err := os.ReadDir(tc.dir)
				switch {
				case !tc.exists && !errors.Is(err, os.ErrNotExist):
					t.Fatalf("missing --data: created (%v, %d entries)", err, len(ents))
				case tc.exists && (err != nil || len(ents) != 0):
					t.Fatalf("empty --data: %d entries now (%v)", len(ents), err)
				}
			}
		})
	}
}

// TestFailedRegistrationLeavesNothing: a device command with --user and
// --password on a --data that holds no device (a typo) registers it
// first; when the registration failed (the relay down, or refusing the
// credentials) the command left the directory, its missing parents,
// db/ and keys/ behind. Now it removes what it created and leaves what
// was there.
func TestFailedRegistrationLeavesNothing(t *testing.T) {
	refusing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(w, `{"error":"relay: wrong user name or password"}`)
	}))
	defer refusing.Close()
	for _, args := range deviceCommands {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("SEGUE_USER", "")
			t.Setenv("SEGUE_PASSWORD", "")
			for _, relay := range []struct{ name, url, says string }{
				{"down", "http://127.0.0.1:1", "unreachable"},
				{"refusing", refusing.URL, "wrong password"},
			} {
				tmp := t.TempDir()
				for _, tc := range []struct {
					name, dir string
					before    []string // entries of dir before; nil: dir does not exist
				}{
					{"missing", filepath.Join(tmp, "typo", "dev"), nil},
					{"empty", filepath.Join(tmp, "empty"), []string{}},
					{"unrelated file", filepath.Join(tmp, "notes"), []string{"todo.txt"}},
				} {
					if tc.before != nil {
						if err := os.Mkdir(tc.dir, 0o700); err != nil {
							t.Fatal(err)
						}
						for _, name := range tc.before {
							if err := os.WriteFile(filepath.Join(tc.dir, name), []byte("mine"), 0o600); err != nil {
								t.Fatal(err)
							}
						}
					}
					code, out, errOut := runCmd(append(args, "-data", tc.dir, "-relay", relay.url, "-user", "ada", "-password", "secret")...)
					if code != 1 || !strings.Contains(errOut, relay.says) {
						t.Fatalf("relay %s, %s --data: exit %d, want 1 and %q\nstdout: %s\nstderr: %s", relay.name, tc.name, code, relay.says, out, errOut)
					}
					var got []string
					ents, err := os.ReadDir(tc.dir)
					for _, e := range ents {
						got = append(got, e.Name())
					}
					switch {
					case tc.before == nil:
						if !errors.Is(err, os.ErrNotExist) {
							t.Fatalf("relay %s, missing --data: created (%v, %v)", relay.name, err, got)
						}
						if _, err := os.Lstat(filepath.Join(tmp, "typo")); !errors.Is(err, os.ErrNotExist) {
							t.Fatalf("relay %s, missing --data: its parent was created (%v)", relay.name, err)
						}
					case err != nil || !slices.Equal(got, tc.before):
						t.Fatalf("relay %s, %s --data: entries %v (%v), want %v", relay.name, tc.name, got, err, tc.before)
					}
				}
			}
		})
	}
}

// TestLoginAnotherAccountRefused: `segue sync login --user B --signup` on
// a device registered to A created account B on the relay, then failed
// with the relay's 409 "device registered to another account". It is a
// usage error now, before anything reaches the relay: B is not created.
func TestLoginAnotherAccountRefused(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	publishAlbum(t, relayDir, 1)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	dev := filepath.Join(t.TempDir(), "device")
	login := func(user string) (int, string) {
		code, _, errOut := runCmd("sync", "login", "-data", dev, "-relay", url, "-user", user, "-password", "correct horse battery", "-signup")
		return code, errOut
	}
	if code, errOut := login("ada"); code != 0 {
		t.Fatalf("login ada: exit %d: %s", code, errOut)
	}
	if code, errOut := login("bob"); code != 2 || !strings.Contains(errOut, "this device is registered to ada") {
		t.Fatalf("login bob: exit %d, want 2 naming ada: %s", code, errOut)
	}
	if code, errOut := login("ada"); code != 0 {
		t.Fatalf("login ada again: exit %d: %s", code, errOut)
	}
	// bob was not created: signing him up on another device works.
	code, _, errOut := runCmd("sync", "login", "-data", filepath.Join(t.TempDir(), "device2"), "-relay", url, "-user", "bob", "-password", "another password", "-signup")
	if code != 0 {
		t.Fatalf("bob on a new device: exit %d: %s", code, errOut)
	}
}
