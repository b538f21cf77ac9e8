package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
)

// TestRelayMountsSearch starts the real `segue relay` and checks GET
// /v1/search is served and asks for a device token (404 before it was
// mounted).
func TestRelayMountsSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	url := startRelayBin(t, buildSegue(t), "--init", "--data", filepath.Join(t.TempDir(), "relay"))
	resp, err := http.Get(url + "/v1/search?q=abba")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /v1/search without a token: %d, want 401", resp.StatusCode)
	}
}

// TestSearchCommand registers a device with `segue search` itself and
// searches a real relay (the demo album ingested, search mounted as
// `segue relay` mounts it) with a typo: the demo track comes first with
// its matched words bracketed. After `segue download` of the album and
// with the relay stopped, `segue search` falls back to the device's
// offline index with a note, and `--offline` searches it on purpose.
func TestSearchCommand(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := search.MountForDataDir(context.Background(), dd, srv); err != nil {
			t.Error(err)
		}
	}))
	t.Setenv("SEGUE_DEVICE", filepath.Join(t.TempDir(), "device"))
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_USER", "ada")
	t.Setenv("SEGUE_PASSWORD", "a long enough secret")
	res := segue(t, "search", "--signup", "--type", "track", "harbuor ligts")
	if res.code != 0 {
		t.Fatalf("search: %+v", res)
	}
	first, _, _ := strings.Cut(res.stdout, "\n")
	if !strings.Contains(first, " 1. track  [Harbour] [Lights] — Segue Ensemble") {
		t.Errorf("first line %q\n%s", first, res.stdout)
	}
	if res := segue(t, "search", "xqzvwkj"); res.code != 0 || !strings.Contains(res.stdout, "no results") {
		t.Errorf("nothing close: %+v", res)
	}
	for _, args := range [][]string{{"search"}, {"search", "--type", "song", "x"}, {"search", "--limit", "0", "x"}, {"search", "--offline", strings.Repeat("x ", 11)}, {"search", "--log-level", "loud", "x"}} {
		if res := segue(t, args...); res.code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, res.code, res.stderr)
		}
	}

	if res := segue(t, "download", "--tier", "low", "album:"+string(r.Album)); res.code != 0 {
		t.Fatalf("download: %+v", res)
	}
	res = segue(t, "search", "harbuor ligts")
	if first, _, _ := strings.Cut(res.stdout, "\n"); res.code != 0 || !strings.Contains(first, " 1. track  ↓ [Harbour] [Lights]") {
		t.Fatalf("online search after the download: the downloaded track first, marked: %+v", res)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"search", "harbuor ligts"}, {"search", "--offline", "harbuor ligts"}} {
		res := segue(t, args...)
		first, _, _ := strings.Cut(res.stdout, "\n")
		if res.code != 0 || !strings.Contains(first, " 1. track  ↓ [Harbour] [Lights] — Segue Ensemble") || !strings.Contains(res.stderr, "offline index") {
			t.Errorf("%v with the relay down: %+v", args, res)
		}
		// One plain line says it is offline: no engine log records
		// (they were WARN lines) and no multi-line error.
		if strings.Count(res.stderr, "\n") != 1 || strings.Contains(res.stderr, "level=") {
			t.Errorf("%v with the relay down: stderr %q, want one note line", args, res.stderr)
		}
	}

	// Playlists made and renamed offline are in the offline index, and
	// their unknown tracks do not make it ask the dead relay for each.
	res = segue(t, "playlist", "create", "Road trip")
	if res.code != 0 {
		t.Fatalf("playlist create offline: %+v", res)
	}
	pl := strings.TrimSpace(res.stdout)
	if res := segue(t, "playlist", "add", pl, "trAAAAAAAAAAAAAAAA", "trBBBBBBBBBBBBBBBB", "trCCCCCCCCCCCCCCCC"); res.code != 0 {
		t.Fatalf("playlist add offline: %+v", res)
	}
	res = segue(t, "search", "--offline", "--log-level", "warn", "road trip")
	if first, _, _ := strings.Cut(res.stdout, "\n"); res.code != 0 || !strings.Contains(first, " 1. playlist * [Road] [trip]  ("+pl+")") {
		t.Errorf("offline search for a playlist made offline: %+v", res)
	}
	if n := strings.Count(res.stderr, "relay request failed"); n > 1 {
		t.Errorf("the dead relay asked %d times in one search:\n%s", n, res.stderr)
	}
	if res := segue(t, "playlist", "rename", pl, "Night drive"); res.code != 0 {
		t.Fatalf("playlist rename offline: %+v", res)
	}
	if res := segue(t, "search", "--offline", "night drive"); res.code != 0 || !strings.Contains(res.stdout, "[Night] [drive]") {
		t.Errorf("offline search for the new name: %+v", res)
	}
	if res := segue(t, "search", "--offline", "road trip"); res.code != 0 || strings.Contains(res.stdout, pl) {
		t.Errorf("offline search for the old name still finds the playlist: %+v", res)
	}
}
