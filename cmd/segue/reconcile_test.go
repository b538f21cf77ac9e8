package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/counting"
)

// TestReconcileCLI runs `segue reconcile` in process on an empty relay
// data directory (nothing counted, nothing served) and checks its usage
// errors; server/reconcile's tests cover the comparison on a real relay.
func TestReconcileCLI(t *testing.T) {
	ctx := context.Background()
	dir, dd := newDataDir(t)
	dd.Close()
	var out, errb bytes.Buffer
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if want := "2026-11-30: 0 counted streams (0 online, 0 offline): 0 backed, 0 counted but unbacked; 0 (device, track) backed but uncounted\n" +
		"threshold 30s (the default: the relay recorded none)\n"; out.String() != want {
		t.Errorf("output %q", out.String())
	}
	out.Reset()
	edgeDir := t.TempDir() // an edge's access records: none yet
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30", "--edge-access", edgeDir, "--edge-access", edgeDir}, &out, &errb); err != nil || !strings.HasPrefix(out.String(), "2026-11-30: 0 counted streams") {
		t.Errorf("--edge-access: %v %q", err, out.String())
	}
	out.Reset()
	if err := runReconcile(ctx, []string{"--data", dir, "--day", "2026-11-30", "--json"}, &out, &errb); err != nil || !strings.Contains(out.String(), `"day": "2026-11-30"`) {
		t.Errorf("json: %v %s", err, out.String())
	}
	if err := os.WriteFile(filepath.Join(edgeDir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]string{
		{"--data", dir, "--day", "2026-11-31"},
		{"--data", dir, "--day", "30.11.2026"},
		{"--day", "2026-11-30"},
		{"--data", dir, "--day", "2026-11-30", "--threshold", "-1s"},
		{"--data", dir, "--day", "2026-11-30", "--threshold", "0s"},
		{"--data", dir, "--day", "2026-11-30", "extra"},
		{"--data", dir, "--day", "2026-11-30", "--edge-access", dir + "/none"},
		{"--data", dir, "--day", "2026-11-30", "--edge-access", filepath.Join(edgeDir, "file")},
	} {
		if err := runReconcile(ctx, bad, &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
	if err := runReconcile(ctx, []string{"--data", t.TempDir() + "/none", "--day", "2026-11-30"}, &out, &errb); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing data dir: %v", err)
	}
}

// TestReconcileUsesRecordedThreshold: once the relay's counting consumer
// has committed, `segue reconcile` checks against the threshold it
// counted with, unless --threshold says otherwise.
func TestReconcileUsesRecordedThreshold(t *testing.T) {
	ctx := context.Background()
	dir, dd := newDataDir(t)
	ev := api.PlayRecord{Seq: 1, Track: "t", Tier: model.TierLow, StartedAt: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixMilli(),
		PlayedMs: 12000, EndReason: model.EndCompleted, Source: model.SourceStream}
	countPlays(t, dd, []api.PlayRecord{ev}, dd.Catalog, nil, counting.DefaultOptions().WithThreshold(10*time.Second).WithLogger(nil))
	dd.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "threshold 10s (the relay's counting threshold)\n"},
		{[]string{"--threshold", "45s"}, "threshold 45s (--threshold)\n"},
		{[]string{"--json"}, `"threshold_ms": 10000,`},
		{[]string{"--json", "--threshold", "1m"}, `"threshold_ms": 60000,`},
	} {
		var out, errb bytes.Buffer
		if err := runReconcile(ctx, append([]string{"--data", dir, "--day", "2026-11-30"}, tc.args...), &out, &errb); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if !strings.Contains(out.String(), tc.want) {
			t.Errorf("%q: output lacks %q:\n%s", tc.args, tc.want, out.String())
		}
	}
}

// TestReconcileThresholdPerStream: a relay restarted with another
// threshold keeps the one each earlier stream was counted with, so
// `segue reconcile` checks a stream counted under 10 s against 10 s and
// one counted after a restart under 30 s against 30 s (before, both
// against the latest, 30 s: `segue demo -keep` then `segue relay` on its
// data directory made every demo stream unbacked, "30s needed"). An
// explicit --threshold still applies to every stream.
func TestReconcileThresholdPerStream(t *testing.T) {
	ctx := context.Background()
	dir, dd := newDataDir(t)
	day := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for i, c := range []struct {
		played    int64
		threshold time.Duration
	}{{12_000, 10 * time.Second}, {40_000, 30 * time.Second}} {
		ev := api.PlayRecord{Seq: uint64(i + 1), Track: "t", Tier: model.TierLow, StartedAt: day.Add(time.Duration(i) * time.Minute).UnixMilli(),
			PlayedMs: c.played, EndReason: model.EndCompleted, Source: model.SourceStream}
		chain := audit.NewChain(dd.Store, dd.Signer, 1000, nil)
		countPlays(t, dd, []api.PlayRecord{ev}, dd.Catalog, chain, counting.DefaultOptions().WithThreshold(c.threshold).WithLogger(nil))
	}
	dd.Close()
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"offset 0: chunks served to the device cover 0.0 s of the track, 10s needed", "offset 1: chunks served to the device cover 0.0 s of the track, 30s needed"}},
		{[]string{"--threshold", "45s"}, []string{"offset 0: chunks served to the device cover 0.0 s of the track, 45s needed", "offset 1: chunks served to the device cover 0.0 s of the track, 45s needed"}},
	} {
		var out, errb bytes.Buffer
		if err := runReconcile(ctx, append([]string{"--data", dir, "--day", "2026-11-30"}, tc.args...), &out, &errb); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%q: output lacks %q:\n%s", tc.args, w, out.String())
			}
		}
	}
}
