package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `segue demo` exactly as a user would (in-process) and checks
// its report: every track/tier stream verified and decoded to its exact
// length, within the one-minute budget. `segue reconcile` on the kept
// directory finds every counted stream backed by the audio the demo relay
// served, at the demo relay's threshold. A second run in the same
// directory replaces the first one's data and counts afresh.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		report := runDemoOnce(t, ctx, dir)
		replaced := "removed the earlier demo's data there (relay, device-1, device-2, device-3, demo-album.wav): this run starts afresh"
		if got := strings.Contains(report, replaced); got != (run == 2) {
			t.Errorf("run %d: report says %q: %v", run, replaced, got)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		if want := append(slices.Clone(demoEntries), demoMarker); !slices.Equal(names, slices.Sorted(slices.Values(want))) {
			t.Errorf("run %d: the demo left %q in its directory, want %q (demoEntries is what a re-run removes)", run, names, want)
		}
		var out, errb bytes.Buffer
		day := time.Now().UTC().Format(time.DateOnly)
		if err := runReconcile(ctx, []string{"--data", filepath.Join(dir, "relay"), "--day", day}, &out, &errb); err != nil {
			t.Fatalf("run %d: reconcile: %v\n%s", run, err, errb.String())
		}
		want := day + ": 4 counted streams (4 online, 0 offline): 4 backed, 0 counted but unbacked; 0 (device, track) backed but uncounted\n" +
			"threshold 10s (the relay's counting threshold)\n"
		if out.String() != want {
			t.Errorf("run %d: reconcile on the kept demo directory:\n%s\nwant:\n%s", run, out.String(), want)
		}
	}
}

// runDemoOnce runs `segue demo -dir dir`, checks its report and returns it.
func runDemoOnce(t *testing.T, ctx context.Context, dir string) string {
	t.Helper()
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(ctx, []string{"demo", "-dir", dir}, &out, &errb)
	elapsed := time.Since(t0)
	if code != 0 {
		t.Fatalf("segue demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	report := out.String()
	for _, want := range []string{
		"ingested 4 tracks × 4 tiers",
		"relay listening on http://127.0.0.1:",
		`search: "harbuor ligts" → top hit track "Harbour Lights" by Segue Ensemble`,
		"all 16 streams verified",
		"edge: listener 1 fetched \"Arrival\" (high, 6 objects)",
		"0 hits, 6 misses",
		"6 hits, 0 misses",
		"edge: hit ratio 0.50 by objects (6 hits / 6 misses), 0.50 by bytes",
		"gap 0 samples",
		"plays: 6 uploaded, signed by the device: 6 accepted, 0 rejected",
		"as soon as it started",
		"counting: 4 streams in",
		"pool 1.00 EUR over 4 streams → 0.25 EUR",
		"audit: 4 hash-chained records intact",
		"bob's device received it",
		"converged on both devices",
		`cleo's device synced it through her library: "Discover Weekly": Harbour Lights, Segue`,
		"editing it is refused",
		"social: bob sees ada playing \"Segue\"",
		"social: ada shares the track: http://127.0.0.1:",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("demo report lacks %q:\n%s", want, report)
		}
	}
	// Nothing fails on the way out: services flush before the relay's
	// store closes (the social service's activity writer once did not).
	if strings.Contains(errb.String(), "level=ERROR") {
		t.Errorf("demo logged an error:\n%s", errb.String())
	}
	if strings.Contains(report, "MISMATCH") {
		t.Errorf("demo reports a length mismatch:\n%s", report)
	}
	if elapsed > time.Minute {
		t.Errorf("demo took %v, budget is one minute", elapsed)
	}
	return report
}

// TestPrepareDemoDir: a new or empty directory, or one with unrelated
// files, is used as it is; an earlier demo's entries are removed (and
// nothing else); a directory holding a demo's entry names without the
// marker is refused and left untouched.
func TestPrepareDemoDir(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   []string // created before, as empty files
		removed []string
		usage   bool     // refused with a usage error
		left    []string // in the directory afterwards, besides the marker
	}{
		{name: "absent"},
		{name: "empty", files: []string{}},
		{name: "unrelated files", files: []string{"notes.txt"}, left: []string{"notes.txt"}},
		{name: "earlier demo", files: []string{demoMarker, "relay/KEYREGISTRY", "device-1/x", "demo-album.wav", "notes.txt"},
			removed: []string{"relay", "device-1", "demo-album.wav"}, left: []string{"notes.txt"}},
		{name: "marker only", files: []string{demoMarker}},
		{name: "relay without marker", files: []string{"relay/KEYREGISTRY", "notes.txt"}, usage: true, left: []string{"notes.txt", "relay"}},
		{name: "wav without marker", files: []string{"demo-album.wav"}, usage: true, left: []string{"demo-album.wav"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "demo")
			if tc.files != nil {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for _, f := range tc.files {
				p := filepath.Join(dir, f)
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			removed, lock, err := prepareDemoDir(dir)
			if lock != nil {
				lock.Close()
			}
			if tc.usage {
				if !errors.Is(err, errUsage) {
					t.Fatalf("err %v, want a usage error", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(removed, tc.removed) {
				t.Errorf("removed %q, want %q", removed, tc.removed)
			}
			ents, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var left []string
			marked := false
			for _, e := range ents {
				if e.Name() == demoMarker {
					marked = true
					continue
				}
				left = append(left, e.Name())
			}
			if !slices.Equal(left, tc.left) {
				t.Errorf("left %q, want %q", left, tc.left)
			}
			if marked == tc.usage {
				t.Errorf("marker written: %v", marked)
			}
		})
	}
}

// TestDemoNoTempDir: with $TMPDIR missing, `segue demo` failed with
// "segue demo: stat /nonexistent: no such file or directory", naming
// neither what it was doing nor the way out; it now says it could not
// create its working directory there and suggests -dir.
func TestDemoNoTempDir(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	t.Setenv("TMPDIR", missing)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"demo"}, &out, &errb)
	if want := "create working directory in " + missing + " ($TMPDIR; or pass -dir): "; code != 1 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d, want 1 and %q:\n%s", code, want, errb.String())
	}
}

func TestDemoRejectsArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "extra"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2 (usage)", code)
	}
}
