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
	countStreams(t, dir, map[model.UserID]string{"u1": "FR", "u2": "DE"}, []countedPlay{{"u1", "a"}, {"u1", "a"}, {"u2", "a"}, {"u3", "b"}})
	run := func(out string, extra ...string) string {
		t.Helper()
		return countriesCSV(t, bin, dir, out, extra...)
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
	flagAccount(t, dir, "u2")
	want = "month,currency,track,country,streams,amount\n" +
		"2026-11,EUR,a,FR,2,66.67\n2026-11,EUR,b,ZZ,1,33.33\n"
	if got := run(t.TempDir(), "--by-country"); got != want {
		t.Fatalf("countries csv with u2 flagged:\n%s\nwant:\n%s", got, want)
	}
	plain := t.TempDir()
	if b, err := exec.Command(bin, "royalties", "--data", dir, "--month", "2026-11", "--pool", "1", "--currency", "EUR", "--out", plain, "--unscanned").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(plain, "statement-2026-11-countries.csv")); !os.IsNotExist(err) {
		t.Errorf("countries written without --by-country: %v", err)
	}
	// A run without --by-country into out, which holds the split of an
	// earlier run, removes it: it no longer agrees with the statement.
	if b, err := exec.Command(bin, "royalties", "--data", dir, "--month", "2026-11", "--pool", "1", "--currency", "EUR", "--out", out, "--unscanned").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	for _, f := range []string{"statement-2026-11-countries.csv", "statement-2026-11-countries.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); !os.IsNotExist(err) {
			t.Errorf("%s of an earlier --by-country run kept: %v", f, err)
		}
	}
}

// TestRoyaltiesByCountryHeldAfterMove: a flagged account's streams are
// held out of the countries they were counted under, not the country its
// account has now. u2 streams a from DE, moves to FR and streams it
// again, then moves to JP and is flagged: DE and FR each lose u2's one
// stream. Before, both were held out of JP, where nothing of a was
// counted, and the run failed ("held streams exceed the counted
// streams"); held out of FR instead, DE was paid for u2's stream and FR
// lost one of u1's.
func TestRoyaltiesByCountryHeldAfterMove(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	countStreams(t, dir, map[model.UserID]string{"u1": "FR", "u2": "DE"}, []countedPlay{{"u1", "a"}, {"u1", "a"}, {"u2", "a"}})
	countStreams(t, dir, map[model.UserID]string{"u2": "FR"}, []countedPlay{{"u2", "a"}})
	countStreams(t, dir, map[model.UserID]string{"u2": "JP"}, nil)
	flagAccount(t, dir, "u2")
	want := "month,currency,track,country,streams,amount\n2026-11,EUR,a,FR,2,100.00\n"
	if got := countriesCSV(t, bin, dir, t.TempDir(), "--by-country"); got != want {
		t.Fatalf("countries csv with u2 flagged after two moves:\n%s\nwant:\n%s", got, want)
	}
}

// countedPlay is one stream for countPlays.
type countedPlay struct {
	user  model.UserID
	track model.TrackID
}

// countStreams sets the accounts' countries in the relay data directory
// dir, then appends each play as a 31 s stream on 2026-11-05 to its play
// log and counts them.
func countStreams(t *testing.T, dir string, accounts map[model.UserID]string, plays []countedPlay) {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	for u, c := range accounts {
		b, err := cborx.Marshal(relay.Account{Username: string(u), Country: c})
		if err != nil {
			t.Fatal(err)
		}
		if err := dd.Store.Set(ctx, relay.AccountKey(u), b); err != nil {
			t.Fatal(err)
		}
	}
	nov := time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC).UnixMilli()
	var batches []events.Batch
	for _, p := range plays {
		ev := api.PlayRecord{Seq: uint64(time.Now().UnixNano()), Track: p.track, Tier: model.TierLow, StartedAt: nov, PlayedMs: 31000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
		batches = append(batches, events.Batch{Device: model.DeviceID("d-" + p.user), User: p.user, Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{ev}})
	}
	countBatches(t, dd, batches, nil, nil, counting.DefaultOptions().WithLogger(nil))
}

// flagAccount records user as flagged for fraud in 2026-11 in dir.
func flagAccount(t *testing.T, dir string, user model.UserID) {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	b, err := cborx.Marshal(fraud.Flag{User: user})
	if err != nil {
		t.Fatal(err)
	}
	if err := dd.Store.Set(ctx, []byte("fraud/2026-11/a/"+string(user)), b); err != nil {
		t.Fatal(err)
	}
}

// countriesCSV runs segue royalties for 2026-11 (pool 100.00 EUR) on dir
// into out and returns the countries CSV it wrote.
func countriesCSV(t *testing.T, bin, dir, out string, extra ...string) string {
	t.Helper()
	args := append([]string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "100.00", "--currency", "EUR", "--out", out, "--unscanned"}, extra...)
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
