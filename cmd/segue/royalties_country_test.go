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
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/relay"
)

// TestRoyaltiesByCountryCLI: `segue royalties --by-country` splits each
// track's amount over the countries its streams were counted in (FR and
// DE accounts, and ZZ for a user without an account record), in exact
// cents summing to the track's amount; then a flagged DE account's
// stream is held out of its country, and without --by-country no
// country files are written (and an earlier run's are removed).
func TestRoyaltiesByCountryCLI(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	for u, c := range map[model.UserID]string{"u1": "FR", "u2": "DE"} {
		b, err := cborx.Marshal(relay.Account{Username: string(u), Country: c})
		if err != nil {
			t.Fatal(err)
		}
		if err := dd.Store.Set(ctx, relay.AccountKey(u), b); err != nil {
			t.Fatal(err)
		}
	}
	nov := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC).UnixMilli()
	lg := events.NewStoreLog(dd.Store)
	for i, p := range []struct {
		user  model.UserID
		track model.TrackID
	}{{"u1", "a"}, {"u1", "a"}, {"u2", "a"}, {"u3", "b"}} {
		ev := api.PlayRecord{Seq: uint64(i), Track: p.track, Tier: model.TierLow, StartedAt: nov, PlayedMs: 31000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
		b := events.Batch{Device: model.DeviceID("d-" + p.user), User: p.user, Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{ev}}
		if _, err := lg.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := counting.New(dd.Store, lg, nil, nil, counting.DefaultOptions().WithLogger(nil)).Step(ctx); err != nil {
		t.Fatal(err)
	}
	dd.Close()
	run := func(out string, extra ...string) string {
		t.Helper()
		args := append([]string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "100.00", "--currency", "EUR", "--out", out}, extra...)
		b, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		csv, err := os.ReadFile(filepath.Join(out, "statement-2026-11-countries.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return string(csv)
	}
	out := t.TempDir()
	want := "month,currency,track,country,streams,amount\n" +
		"2026-11,EUR,a,DE,1,25.00\n2026-11,EUR,a,FR,2,50.00\n2026-11,EUR,b,ZZ,1,25.00\n"
	if got := run(out, "--by-country"); got != want {
		t.Fatalf("countries csv:\n%s\nwant:\n%s", got, want)
	}
	js, _ := os.ReadFile(filepath.Join(out, "statement-2026-11-countries.json"))
	if !strings.Contains(string(js), `"country": "FR",`+"\n"+`      "streams": 2,`+"\n"+`      "amount": "50.00"`) {
		t.Errorf("countries json:\n%s", js)
	}
	if again := run(out, "--by-country"); again != want {
		t.Error("second run differs")
	}

	// Flag u2 (DE): its stream of a is held out of DE.
	dd, err = catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cborx.Marshal(fraud.Flag{User: "u2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := dd.Store.Set(ctx, []byte("fraud/2026-11/a/u2"), b); err != nil {
		t.Fatal(err)
	}
	dd.Close()
	want = "month,currency,track,country,streams,amount\n" +
		"2026-11,EUR,a,FR,2,66.67\n2026-11,EUR,b,ZZ,1,33.33\n"
	if got := run(t.TempDir(), "--by-country"); got != want {
		t.Fatalf("countries csv with u2 flagged:\n%s\nwant:\n%s", got, want)
	}
	plain := t.TempDir()
	if b, err := exec.Command(bin, "royalties", "--data", dir, "--month", "2026-11", "--pool", "1", "--currency", "EUR", "--out", plain).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(plain, "statement-2026-11-countries.csv")); !os.IsNotExist(err) {
		t.Errorf("countries written without --by-country: %v", err)
	}
	// A run without --by-country into out, which holds the split of an
	// earlier run, removes it: it no longer agrees with the statement.
	if b, err := exec.Command(bin, "royalties", "--data", dir, "--month", "2026-11", "--pool", "1", "--currency", "EUR", "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, f := range []string{"statement-2026-11-countries.csv", "statement-2026-11-countries.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("%s of an earlier --by-country run kept: %v", f, err)
		}
	}
}
