package main

import (
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/sync/docs"
)

// stepLine is a progress line on stderr: "[  0.12s] text".
var stepLine = regexp.MustCompile(`(?m)^\[ *[0-9]+\.[0-9]{2}s\] \S`)

// TestPlaylistShowNamesTracks runs the playlist and sync commands against
// a real relay holding a 3-track album ("track 0".."track 2" by "cli",
// 2 s each): show names each entry's title, artist and duration from the
// relay; with the relay stopped it names the tracks it resolved before
// from the device's records, and a track it never resolved (or that the
// catalog lacks) by its id with "(unknown)". create prints only the id on
// stdout; progress and timing go to stderr as "[  0.12s] …" lines.
func TestPlaylistShowNamesTracks(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	publishAlbum(t, relayDir, 3)
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithDataDir(relayDir))
	tr := make([]string, 3)
	for i := range tr {
		tr[i] = string(catalog.TrackIDFromMaster(sha256.Sum256(fmt.Appendf(nil, "cli master %d", i))))
	}
	t.Setenv("SEGUE_DEVICE", filepath.Join(t.TempDir(), "device"))
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_USER", "ada")
	t.Setenv("SEGUE_PASSWORD", "a long enough secret")
	must := func(args ...string) segueResult {
		t.Helper()
		res := segue(t, args...)
		if res.code != 0 {
			t.Fatalf("segue %q exited %d\nstdout: %s\nstderr: %s", args, res.code, res.stdout, res.stderr)
		}
		if !stepLine.MatchString(res.stderr) {
			t.Errorf("segue %q: no progress line on stderr: %q", args, res.stderr)
		}
		return res
	}

	created := must("playlist", "--signup", "create", "Road", "trip")
	id := strings.TrimSuffix(created.stdout, "\n")
	if _, err := parseDocID(id); err != nil || strings.Contains(id, "\n") {
		t.Fatalf("create printed %q on stdout, want only the playlist id", created.stdout)
	}
	must("playlist", "add", id, tr[0], tr[1], "trnotinthecatalog")
	online := must("playlist", "show", id)
	for _, w := range []string{
		`"Road trip" owner=ada`, "3 entries, 0:04",
		"  0  ", tr[0] + "  track 0 — cli  0:02  (ada)",
		"  1  ", tr[1] + "  track 1 — cli  0:02  (ada)",
		"  2  ", "trnotinthecatalog  (unknown)  (ada)",
	} {
		if !strings.Contains(online.stdout, w) {
			t.Errorf("show (relay up) lacks %q:\n%s", w, online.stdout)
		}
	}
	if !strings.Contains(online.stderr, "3 entries named from the relay") {
		t.Errorf("show stderr: %q", online.stderr)
	}
	synced := must("sync", "now")
	if !regexp.MustCompile(`relay connected=true .* received=[0-9]+ time=[0-9.]+ s error=""\nplays sent=0 accepted=0 duplicate=0 rejected=0 queued=0 error=""\n$`).MatchString(synced.stdout) ||
		!strings.Contains(synced.stderr, "sync ended after ") {
		t.Errorf("sync now:\nstdout: %s\nstderr: %s", synced.stdout, synced.stderr)
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	must("playlist", "add", id, tr[2]) // never resolved while the relay was up
	offline := must("playlist", "show", id)
	for _, w := range []string{
		"4 entries, 0:04",
		tr[0] + "  track 0 — cli  0:02  (ada)",
		tr[1] + "  track 1 — cli  0:02  (ada)",
		"trnotinthecatalog  (unknown)  (ada)",
		tr[2] + "  (unknown)  (ada)",
	} {
		if !strings.Contains(offline.stdout, w) {
			t.Errorf("show (relay down) lacks %q:\n%s", w, offline.stdout)
		}
	}
	if !strings.Contains(offline.stderr, "4 entries named from this device (relay unreachable)") || strings.Contains(offline.stderr, "level=") {
		t.Errorf("show stderr (relay down): %q; want the one plain offline line, no log records", offline.stderr)
	}
}

// TestCheckPlaylistArgs: names, descriptions and collaborators the device
// can tell are wrong are usage errors before the device opens (a name
// with ESC, an account name the relay cannot have); before, they were
// stored and synced.
func TestCheckPlaylistArgs(t *testing.T) {
	for _, c := range []struct {
		sub  string
		args []string
		ok   bool
	}{
		{"create", []string{"Road", "trip"}, true},
		{"create", []string{""}, false},
		{"rename", []string{" "}, false},
		{"rename", []string{"a\x1b[2Jb"}, false},
		{"rename", []string{strings.Repeat("x", docs.MaxNameBytes+1)}, false},
		{"describe", []string{""}, true},
		{"describe", []string{"line\nbreak"}, false},
		{"describe", []string{strings.Repeat("x", docs.MaxDescriptionBytes+1)}, false},
		{"collab", []string{"bob", "carol.k"}, true},
		{"collab", []string{"bob", "bad user!"}, false},
		{"collab", []string{"Bob"}, false},
		{"add", []string{"anything\x1b"}, true}, // whether the catalog knows it is not checked offline
		{"add", []string{"ok", "a/b"}, false},
		{"add", []string{strings.Repeat("t", model.MaxIDLen+1)}, false},
	} {
		err := checkPlaylistArgs(c.sub, c.args)
		if (err == nil) != c.ok {
			t.Errorf("%s %q: %v, want ok=%v", c.sub, c.args, err, c.ok)
		}
	}
}

// TestShown: text from playlist documents is printed as it is unless it
// holds a control or bidirectional formatting character, which is then
// escaped.
func TestShown(t *testing.T) {
	for in, want := range map[string]string{
		"Road trip":       "Road trip",
		"Café — mix":      "Café — mix",
		"evil\x1b[31m":    `"evil\x1b[31m"`,
		"abc\u202edef":    `"abc\u202edef"`,
		"two\nlines":      `"two\nlines"`,
		"direction\u200f": "direction\u200f",
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %s, want %s", in, got, want)
		}
	}
}
