package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/ingest"
)

// TestRoyaltiesCLI counts streams in a relay data directory and runs
// `segue royalties`: the CSV splits the pool to the cent (another month's
// streams and sub-30 s plays left out; 10000 × 2/3 has the larger
// remainder, so b gets the leftover cent), the run is reproducible byte for
// byte, a yen pool splits and prints in whole yen into an --out directory
// that did not exist, and bad flags (an unknown currency, yen with
// decimals, --out a file) are usage errors that say why and write nothing.
func TestRoyaltiesCLI(t *testing.T) {
	bin := buildSegue(t)
	dir, dd := newDataDir(t)
	out := t.TempDir()
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
	countPlays(t, dd, evs, nil, nil, counting.DefaultOptions().WithLogger(nil))
	dd.Close()
	args := []string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "100.00", "--currency", "EUR", "--out", out, "--unscanned"}
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
	holders, err := os.ReadFile(filepath.Join(out, "statement-2026-11-holders.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// a and b are not in the catalog: no rights, their money is held.
	if want := "month,currency,party,role,tracks,streams,amount\n2026-11,EUR,(unassigned),(unassigned),2,3,100.00\n"; string(holders) != want {
		t.Errorf("holders csv:\n%s\nwant:\n%s", holders, want)
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
	// Yen have no minor unit: whole yen, the leftover yen by largest
	// remainder; --out is created when missing.
	yen := filepath.Join(out, "new", "yen")
	if b, err := exec.Command(bin, "royalties", "--data", dir, "--month", "2026-11", "--pool", "100", "--currency", "JPY", "--out", yen, "--unscanned").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if csv, err := os.ReadFile(filepath.Join(yen, "statement-2026-11.csv")); err != nil || string(csv) != "month,currency,track,streams,amount\n2026-11,JPY,a,1,33\n2026-11,JPY,b,2,67\n" {
		t.Errorf("JPY csv %q, %v", csv, err)
	}
	file := filepath.Join(out, "statement-2026-11.csv")
	for _, bad := range []struct {
		args []string
		says string
	}{
		{[]string{"--month", "2026-13", "--pool", "1", "--currency", "EUR"}, "month"},
		{[]string{"--month", "2026-10", "--pool", "1.001", "--currency", "EUR"}, "at most 15 integer digits and 2 fraction digits"},
		{[]string{"--month", "2026-10", "--pool", "1", "--currency", "euro"}, "not an active ISO 4217 code"},
		{[]string{"--month", "2026-10", "--pool", "1", "--currency", "XYZ"}, "not an active ISO 4217 code"},
		{[]string{"--month", "2026-10", "--pool", "10.00", "--currency", "JPY"}, "JPY has no minor unit"},
		{[]string{"--month", "2026-10", "--pool", "1", "--currency", "EUR", "--out", file}, "is not a directory"},
	} {
		cmd := exec.Command(bin, append([]string{"royalties", "--data", dir, "--out", out}, bad.args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if ee, ok := cmd.Run().(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(stderr.String(), bad.says) {
			t.Errorf("%q: %v, stderr %q; want exit 2 saying %q", bad.args, cmd.ProcessState, stderr.String(), bad.says)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "statement-2026-10.csv")); !os.IsNotExist(err) {
		t.Errorf("a refused run wrote a statement: %v", err)
	}
}

// TestRoyaltiesHoldersCLI ingests the demo album (rights: Segue Ensemble
// performer 0.7, Segue Records label 0.3), counts streams of three of its
// tracks and checks the per-holder statement: exact cents summing to the
// pool, byte for byte the same on a second run.
func TestRoyaltiesHoldersCLI(t *testing.T) {
	bin := buildSegue(t)
	dir, dd := newDataDir(t)
	out := t.TempDir()
	ctx := context.Background()
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, ingest.DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg"))
	if err != nil {
		t.Fatal(err)
	}
	nov := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC).UnixMilli()
	var evs []api.PlayRecord
	for i, k := range []int{0, 1, 1, 2, 2, 2} {
		evs = append(evs, api.PlayRecord{Seq: uint64(i), Track: res.Tracks[k].ID, Tier: model.TierLow, StartedAt: nov, PlayedMs: 31000,
			EndReason: model.EndCompleted, Source: model.SourceStream})
	}
	countPlays(t, dd, evs, nil, nil, counting.DefaultOptions().WithLogger(nil))
	dd.Close()
	args := []string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "1000.01", "--currency", "EUR", "--out", out, "--unscanned"}
	var first []byte
	for run := range 2 {
		if b, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		csv, err := os.ReadFile(filepath.Join(out, "statement-2026-11-holders.csv"))
		if err != nil {
			t.Fatal(err)
		}
		// 100001 cents × 0.7 = 70000.7 → 70001 (largest remainder), × 0.3 = 30000.3 → 30000.
		want := "month,currency,party,role,tracks,streams,amount\n" +
			"2026-11,EUR,Segue Ensemble,performer,3,4.2,700.01\n" +
			"2026-11,EUR,Segue Records,label,3,1.8,300.00\n"
		if string(csv) != want {
			t.Fatalf("holders csv:\n%s\nwant:\n%s", csv, want)
		}
		if run == 1 && string(csv) != string(first) {
			t.Fatal("second run differs")
		}
		first = csv
	}
	js, _ := os.ReadFile(filepath.Join(out, "statement-2026-11-holders.json"))
	if !strings.Contains(string(js), `"amount": "700.01"`) || !strings.Contains(string(js), `"unassigned_tracks": 0`) {
		t.Errorf("json:\n%s", js)
	}
}

// TestRoyaltiesAllOrNothing: when one statement file cannot be written
// (here its path is a directory), none is: the run fails naming it and
// leaves every path as it was (before, statement-<month>.csv and .json
// were written new beside the holders file that failed, a set no run
// produced).
func TestRoyaltiesAllOrNothing(t *testing.T) {
	ctx := context.Background()
	dir, dd := newDataDir(t)
	out := t.TempDir()
	ev := api.PlayRecord{Seq: 1, Track: "a", Tier: model.TierLow, StartedAt: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC).UnixMilli(),
		PlayedMs: 31000, EndReason: model.EndCompleted, Source: model.SourceStream}
	countPlays(t, dd, []api.PlayRecord{ev}, nil, nil, counting.DefaultOptions().WithLogger(nil))
	dd.Close()
	if err := os.Mkdir(filepath.Join(out, "statement-2026-11-holders.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := runRoyalties(ctx, []string{"--data", dir, "--month", "2026-11", "--pool", "100.00", "--currency", "EUR", "--out", out, "--unscanned"}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "statement-2026-11-holders.csv") {
		t.Fatalf("run: %v, want the holders file named", err)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("--out holds %q after the failed run, want only the directory that was there", names)
	}
}

// TestRoyaltiesNeedScan: `segue royalties` refuses a month with counted
// streams its fraud scan has not all checked, naming the command to run:
// a month never scanned, and one with streams counted after its last
// scan (a farm's, here); --unscanned pays them anyway, with a warning
// and "unscanned": true in the JSON statement, and a scan of the
// month lets the run through again, the farm's streams then held. A month
// with no streams needs no scan. Before, the statement paid every stream
// no scan had checked without a word: by default the relay scans nothing
// (--fraud-scan-interval 0), and plays made offline reach their month up
// to 32 days after it.
func TestRoyaltiesNeedScan(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	plays := []countedPlay{{"u1", "a"}, {"u2", "a"}, {"u3", "b"}}
	for i := range 120 { // a heavier listener: the group check needs them
		plays = append(plays, countedPlay{"heavy", model.TrackID(fmt.Sprintf("hit-%d", i%12))})
	}
	countStreams(t, dir, nil, plays)
	out := t.TempDir()
	royalties := func(month string, extra ...string) (string, error) {
		args := append([]string{"royalties", "--data", dir, "--month", month, "--pool", "100.00", "--currency", "EUR", "--out", out}, extra...)
		b, err := exec.Command(bin, args...).CombinedOutput()
		return string(b), err
	}
	scan := func() {
		t.Helper()
		if b, err := exec.Command(bin, "fraud", "scan", "--data", dir, "--month", "2026-11").CombinedOutput(); err != nil {
			t.Fatalf("fraud scan: %v\n%s", err, b)
		}
	}
	refused := func(step, want string) {
		t.Helper()
		b, err := royalties("2026-11")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(b, want) || !strings.Contains(b, "run segue fraud scan --data "+dir+" --month 2026-11 first") {
			t.Fatalf("%s: %v\n%s\nwant exit 1 and %q", step, err, b, want)
		}
		if _, err := os.Stat(filepath.Join(out, "statement-2026-11.csv")); !os.IsNotExist(err) {
			t.Fatalf("%s: a statement was written (%v)", step, err)
		}
	}
	refused("never scanned", "fraud: month not scanned: 2026-11")
	if b, err := royalties("2026-10"); err != nil {
		t.Fatalf("a month without streams: %v\n%s", err, b)
	}
	scan()
	if b, err := royalties("2026-11"); err != nil {
		t.Fatalf("after the scan: %v\n%s", err, b)
	}
	os.RemoveAll(out)
	var farm []countedPlay
	for i := range 6 {
		farm = append(farm, countedPlay{model.UserID(fmt.Sprintf("farm-%d", i)), "promo"}, countedPlay{model.UserID(fmt.Sprintf("farm-%d", i)), "promo2"})
	}
	countStreams(t, dir, nil, farm)
	refused("streams counted after the scan", "fraud: streams counted after the month's last scan: 2026-11: 12 streams after offset 123")
	if b, err := royalties("2026-11", "--unscanned"); err != nil || !strings.Contains(b, "warning: fraud: streams counted after the month's last scan: 2026-11: 12 streams after offset 123: paid with --unscanned") {
		t.Fatalf("--unscanned: %v\n%s", err, b)
	}
	if csv, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.csv")); !strings.Contains(string(csv), ",promo,6,") {
		t.Fatalf("--unscanned does not pay the farm:\n%s", csv)
	}
	if js, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.json")); !strings.Contains(string(js), `"unscanned": true`) {
		t.Fatalf("statement paid with --unscanned does not say so:\n%s", js)
	}
	scan()
	if b, err := royalties("2026-11"); err != nil || !strings.Contains(b, "held out") {
		t.Fatalf("after the second scan: %v\n%s", err, b)
	}
	if csv, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.csv")); strings.Contains(string(csv), ",promo") {
		t.Fatalf("the farm paid after the second scan:\n%s", csv)
	}
	if js, _ := os.ReadFile(filepath.Join(out, "statement-2026-11.json")); strings.Contains(string(js), "unscanned") {
		t.Fatalf("statement after the scan:\n%s", js)
	}
}
