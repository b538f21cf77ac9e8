package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
)

// TestRoyaltiesCLI counts streams in a relay data directory and runs
// `segue royalties`: the CSV splits the pool to the cent (another month's
// streams and sub-30 s plays left out; 10000 × 2/3 has the larger
// remainder, so b gets the leftover cent), the run is reproducible byte for
// byte, and bad flags are usage errors that write nothing.
func TestRoyaltiesCLI(t *testing.T) {
	bin := buildSegue(t)
	dir, out := t.TempDir(), t.TempDir()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC).UnixMilli()
	dec := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var evs []api.PlayRecord
	for i, p := range []struct {
		track   model.TrackID
		started int64
		played  int64
	}{{"a", nov, 31000}, {"b", nov, 40000}, {"b", nov, 200000}, {"c", nov, 29999}, {"a", dec, 60000}} {
		evs = append(evs, api.PlayRecord{Seq: uint64(i), Track: p.track, Tier: model.TierLow, StartedAt: p.started, PlayedMs: p.played,
			EndReason: model.EndCompleted, Source: model.SourceStream})
	}
	lg := events.NewStoreLog(dd.Store)
	if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: evs}); err != nil {
		t.Fatal(err)
	}
	if _, err := counting.New(dd.Store, lg, nil, nil, counting.DefaultOptions().WithLogger(nil)).Step(ctx); err != nil {
		t.Fatal(err)
	}
	dd.Close()
	args := []string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "100.00", "--currency", "EUR", "--out", out}
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	csv, err := os.ReadFile(filepath.Join(out, "statement-2026-11.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "month,currency,track,streams,amount\n2026-11,EUR,a,1,33.33\n2026-11,EUR,b,2,66.67\n"; string(csv) != want {
		t.Errorf("csv:\n%s\nwant:\n%s", csv, want)
	}
	js, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.json"))
	if !strings.Contains(string(js), `"pool": "100.00"`) || !strings.Contains(string(js), `"amount": "66.67"`) {
		t.Errorf("json:\n%s", js)
	}
	if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if again, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.csv")); string(again) != string(csv) {
		t.Error("second run differs")
	}
	for _, bad := range [][]string{
		{"--month", "2026-13", "--pool", "1", "--currency", "EUR"},
		{"--month", "2026-10", "--pool", "1.001", "--currency", "EUR"},
		{"--month", "2026-10", "--pool", "1", "--currency", "euro"},
	} {
		cmd := exec.Command(bin, append([]string{"royalties", "--data", dir, "--out", out}, bad...)...)
		if ee, ok := cmd.Run().(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%q: want exit 2", bad)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "statement-2026-10.csv")); !os.IsNotExist(err) {
		t.Errorf("a refused run wrote a statement: %v", err)
	}
}
