package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/playsim"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
)

// TestFraudScanCLI logs and counts a simulated week in a relay data
// directory, runs `segue fraud scan` (flags printed with explanations, a
// small farm's accounts under 20 streams each flagged as a group, and
// slowlow bots sharing a campaign's tracks too; no human; the same flags
// on a rerun) and then `segue royalties`: the flagged
// accounts' streams, the group's included, are held out of the pool and
// listed in the JSON and in statement-<month>-held.csv, counted plus held
// equals every counted stream; once the flags are lifted the statement pays every stream and
// the hold-out list is gone. Bad arguments are usage errors.
func TestFraudScanCLI(t *testing.T) {
	bin := buildSegue(t)
	dir, out := t.TempDir(), t.TempDir()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	lg := events.NewStoreLog(dd.Store)
	type key struct {
		d model.DeviceID
		u model.UserID
	}
	batches := map[key][]api.PlayRecord{}
	var order []key
	accts, err := playsim.Run(playsim.DefaultOptions().WithSeed(9).WithHumans(10).WithLight(30).WithBots(10).WithDays(5), playsim.SyntheticShape(9, 20, 200), func(p playsim.Play) {
		k := key{p.Device, p.User}
		if _, ok := batches[k]; !ok {
			order = append(order, k)
		}
		batches[k] = append(batches[k], p.Event)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range order {
		for evs := batches[k]; len(evs) > 0; {
			n := min(len(evs), 1000)
			if _, err := lg.Append(ctx, events.Batch{Device: k.d, User: k.u, Message: []byte("m"), Sig: []byte("s"), Events: evs[:n]}); err != nil {
				t.Fatal(err)
			}
			evs = evs[n:]
		}
	}
	c := counting.New(dd.Store, lg, nil, nil, counting.DefaultOptions().WithLogger(nil))
	for n := 1; n > 0; {
		if n, err = c.Step(ctx); err != nil {
			t.Fatal(err)
		}
	}
	total, err := counting.MonthStreams(ctx, dd.Store, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	var all uint64
	for _, n := range total {
		all += n
	}
	dd.Close()
	info := map[model.UserID]fraud.AccountInfo{}
	label := map[string]playsim.Label{}
	for _, a := range accts {
		info[a.User] = fraud.AccountInfo{IP: a.IP, Social: true, Friends: a.Friends, LibraryEdits: a.LibraryEdits}
		label[string(a.User)] = a.Label
	}
	acctsFile := filepath.Join(out, "accounts.json")
	b, _ := json.Marshal(info)
	if err := os.WriteFile(acctsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	scan := []string{"fraud", "scan", "--data", dir, "--month", "2026-11", "--accounts", acctsFile}
	first, err := exec.Command(bin, scan...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, first)
	}
	var flagged, grouped []string
	small := 0
	for _, line := range strings.Split(string(first), "\n") {
		if u, ok := strings.CutPrefix(line, "flagged "); ok {
			u, _, _ = strings.Cut(u, " ")
			flagged = append(flagged, u)
			switch {
			case label[u] == playsim.Human || !strings.Contains(line, "): group of ") && !strings.Contains(line, "): score "):
				t.Errorf("flag line %q (a %s)", line, label[u])
			case strings.Contains(line, "): group of "): // the small farm, and slowlow bots sharing a campaign's tracks
				grouped = append(grouped, u)
				if label[u] == playsim.BotSmallFarm {
					small++
				}
			}
		}
	}
	if len(flagged) < 3 || small < 5 || !regexp.MustCompile(`\ngroup check \(accounts under 100 streams\): [1-9][0-9]* groups? flagged\n`).Match(first) {
		t.Fatalf("%d accounts flagged, %d of them as a group, %d of the small farm:\n%s", len(flagged), len(grouped), small, first)
	}
	if again, err := exec.Command(bin, scan...).CombinedOutput(); err != nil || string(again) != string(first) {
		t.Errorf("rescan differs (%v):\n%s\nfirst:\n%s", err, again, first)
	}
	roy := []string{"royalties", "--data", dir, "--month", "2026-11", "--pool", "1000.00", "--currency", "EUR", "--out", out}
	if b, err := exec.Command(bin, roy...).CombinedOutput(); err != nil || !strings.Contains(string(b), "held out of the pool") {
		t.Fatalf("%v\n%s", err, b)
	}
	js, err := os.ReadFile(filepath.Join(out, "statement-2026-11.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stmt struct {
		Streams uint64 `json:"streams"`
		Tracks  []struct {
			Amount string `json:"amount"`
		} `json:"tracks"`
		Held struct {
			Streams uint64 `json:"streams"`
			Lines   []struct {
				User string `json:"user"`
			} `json:"lines"`
		} `json:"held"`
	}
	if err := json.Unmarshal(js, &stmt); err != nil {
		t.Fatal(err)
	}
	if stmt.Held.Streams == 0 || stmt.Streams+stmt.Held.Streams != all {
		t.Errorf("counted %d + held %d, want %d in all", stmt.Streams, stmt.Held.Streams, all)
	}
	heldUsers := map[string]bool{}
	for _, l := range stmt.Held.Lines {
		heldUsers[l.User] = true
		if !strings.Contains(string(first), "flagged "+l.User+" ") {
			t.Errorf("held user %s was not flagged", l.User)
		}
	}
	for _, u := range grouped {
		if !heldUsers[u] {
			t.Errorf("small-farm account %s flagged with its group, its streams not held", u)
		}
	}
	csv, err := os.ReadFile(filepath.Join(out, "statement-2026-11-held.csv"))
	if err != nil || !strings.HasPrefix(string(csv), "month,user,track,streams\n") || strings.Count(string(csv), "\n") != len(stmt.Held.Lines)+1 {
		t.Errorf("held csv (%v):\n%s", err, csv)
	}
	// Flags lifted (deleted by an operator): the next statement pays every
	// stream and leaves no stale hold-out list.
	dd, err = catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := fraud.LastScan(ctx, dd.Store, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range flagged {
		if err := dd.Store.Delete(ctx, fmt.Appendf(nil, "fraud/2026-11/g/%016x/%s", rec.Gen, u)); err != nil {
			t.Fatal(err)
		}
	}
	dd.Close()
	if b, err := exec.Command(bin, roy...).CombinedOutput(); err != nil || strings.Contains(string(b), "held out") {
		t.Fatalf("%v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "statement-2026-11-held.csv")); !os.IsNotExist(err) {
		t.Errorf("stale held csv: %v", err)
	}
	js, _ = os.ReadFile(filepath.Join(out, "statement-2026-11.json"))
	if strings.Contains(string(js), `"held"`) || !strings.Contains(string(js), fmt.Sprintf(`"streams": %d,`, all)) {
		t.Errorf("statement after lifting the flags:\n%.400s", js)
	}
	bad := filepath.Join(out, "bad.json")
	os.WriteFile(bad, []byte(`{"u": {"friends": -1}}`), 0o600)
	for _, args := range [][]string{
		{"fraud", "scan", "--data", dir, "--month", "2026-13"},
		{"fraud", "--data", dir, "--month", "2026-11"},
		{"fraud", "scan", "--month", "2026-11"},
		{"fraud", "scan", "--data", dir, "--month", "2026-11", "--accounts", bad},
		{"fraud", "scan", "--data", dir, "--month", "2026-11", "--accounts", filepath.Join(out, "missing.json")},
	} {
		cmd := exec.Command(bin, args...)
		if ee, ok := cmd.Run().(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%q: want exit 2", args)
		}
	}
}
