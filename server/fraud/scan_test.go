package fraud_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/playsim"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// badgerLog opens a Badger store in a temporary directory, closed when
// the test ends, and the event log in it.
func badgerLog(t *testing.T) (store.Store, *events.StoreLog) {
	t.Helper()
	st, err := badgerstore.Open(context.Background(), t.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, events.NewStoreLog(st)
}

// logPopulation simulates a week of a small population, appends its plays
// to the event log on st in batches per device and user, counts them, and
// returns the accounts.
func logPopulation(t *testing.T, st store.Store, lg events.Log) []playsim.Account {
	t.Helper()
	return logSim(t, st, lg, playsim.DefaultOptions().WithSeed(7).WithHumans(15).WithLight(0).WithBots(2).WithDays(7), playsim.SyntheticShape(7, 30, 300))
}

// logSim is logPopulation for the simulation opts over shape.
func logSim(t *testing.T, st store.Store, lg events.Log, opts playsim.Options, shape playsim.Shape) []playsim.Account {
	t.Helper()
	ctx := context.Background()
	type key struct {
		d model.DeviceID
		u model.UserID
	}
	pending := map[key][]api.PlayRecord{}
	var order []key
	flush := func(k key) {
		if _, err := lg.Append(ctx, events.Batch{Device: k.d, User: k.u, Message: []byte("m"), Sig: []byte("s"), Events: pending[k]}); err != nil {
			t.Fatal(err)
		}
		pending[k] = pending[k][:0]
	}
	accts, err := playsim.Run(opts, shape, func(p playsim.Play) {
		k := key{p.Device, p.User}
		if _, ok := pending[k]; !ok {
			order = append(order, k)
		}
		if pending[k] = append(pending[k], p.Event); len(pending[k]) == 1000 {
			flush(k)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range order {
		if len(pending[k]) > 0 {
			flush(k)
		}
	}
	c := counting.New(st, lg, nil, nil, counting.DefaultOptions().WithLogger(nil))
	for {
		n, err := c.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	return accts
}

func info(accts []playsim.Account) map[model.UserID]fraud.AccountInfo {
	m := map[model.UserID]fraud.AccountInfo{}
	for _, a := range accts {
		m[a.User] = fraud.AccountInfo{IP: a.IP, Social: true, Friends: a.Friends, LibraryEdits: a.LibraryEdits}
	}
	return m
}

// TestScanBadger scans a simulated week in a real Badger store: the
// around-the-clock bots (loop, muted) are flagged with an explanation, no human is, the
// flags are exactly the model's verdicts, a rescan gives the same flags
// (only the time moves), and another month has none.
func TestScanBadger(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	accts := logPopulation(t, st, lg)
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	opts := fraud.DefaultScanOptions().WithInfo(info(accts)).WithClock(func() time.Time { return now }).WithLogger(nil)
	rec, flags, err := fraud.Scan(ctx, st, lg, "2026-11", opts)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Accounts != len(accts) || rec.Flagged != len(flags) || rec.Time != now.UnixMilli() || rec.Events == 0 {
		t.Fatalf("scan record %+v for %d accounts", rec, len(accts))
	}
	label := map[model.UserID]playsim.Label{}
	for _, a := range accts {
		label[a.User] = a.Label
	}
	flagged := map[model.UserID]bool{}
	for _, f := range flags {
		flagged[f.User] = true
		if label[f.User] == playsim.Human {
			t.Errorf("human %s flagged: %s", f.User, f.Explanation)
		}
		if f.Score < f.Threshold || f.Explanation == "" || f.Time != now.UnixMilli() || f.Plays < fraud.DefaultMinPlays {
			t.Errorf("flag %+v", f)
		}
	}
	for _, a := range accts {
		switch a.Label {
		case playsim.BotLoop, playsim.BotMuted: // a week only: the model was fitted on months
			if !flagged[a.User] {
				t.Errorf("%s bot %s not flagged", a.Label, a.User)
			}
		}
	}
	stored, err := fraud.Flags(ctx, st, "2026-11")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(stored, flags) {
		t.Fatalf("stored flags differ from the scan's:\n%+v\n%+v", stored, flags)
	}
	// Rescan an hour later: same accounts, same scores, new time.
	now = now.Add(time.Hour)
	_, again, err := fraud.Scan(ctx, st, lg, "2026-11", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != len(flags) {
		t.Fatalf("rescan flagged %d, first scan %d", len(again), len(flags))
	}
	for i := range again {
		if again[i].User != flags[i].User || again[i].Score != flags[i].Score || again[i].Time != now.UnixMilli() {
			t.Errorf("rescan flag %+v, first %+v", again[i], flags[i])
		}
	}
	if last, err := fraud.LastScan(ctx, st, "2026-11"); err != nil || last.Time != now.UnixMilli() {
		t.Errorf("last scan %+v, %v", last, err)
	}
	if other, err := fraud.Flags(ctx, st, "2026-10"); err != nil || len(other) != 0 {
		t.Errorf("October flags %v, %v", other, err)
	}
	if _, err := fraud.LastScan(ctx, st, "2026-10"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("October last scan: %v, want ErrNotFound", err)
	}
}

// TestScanReplaces: a scan replaces the month's earlier flags (an
// account no longer flagged loses its flag).
func TestScanReplaces(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	accts := logPopulation(t, st, lg)
	opts := fraud.DefaultScanOptions().WithInfo(info(accts)).WithLogger(nil)
	_, flags, err := fraud.Scan(ctx, st, lg, "2026-11", opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(flags) < 2 {
		t.Fatalf("only %d flags", len(flags))
	}
	// A model that flags nobody clears the month.
	strict, _ := fraud.DefaultModel()
	strict.Threshold = 1
	strict.Bias = -1000
	rec, none, err := fraud.Scan(ctx, st, lg, "2026-11", opts.WithModel(strict))
	if err != nil || len(none) != 0 || rec.Flagged != 0 {
		t.Fatalf("strict scan: %d flags, %v", len(none), err)
	}
	if stored, _ := fraud.Flags(ctx, st, "2026-11"); len(stored) != 0 {
		t.Errorf("%d stale flags left", len(stored))
	}
	for _, m := range []string{"2026-13", "26-11", "", "2026-11/x"} {
		if _, _, err := fraud.Scan(ctx, st, lg, m, opts); !errors.Is(err, counting.ErrBadMonth) {
			t.Errorf("month %q: %v, want ErrBadMonth", m, err)
		}
	}
	if _, _, err := fraud.Scan(ctx, st, lg, "2026-11", opts.WithMinPlays(0)); err == nil {
		t.Error("min plays 0 accepted")
	}
	if _, _, err := fraud.Scan(ctx, st, lg, "2026-11", opts.WithGroups(fraud.DefaultGroupOptions().WithMaxStreams(10))); err == nil {
		t.Error("light accounts under 10 streams, under the minimum of plays: accepted")
	}
}

// TestScanAfterRetention: once retention has removed events the log
// cannot be read from offset 0; a scan then reads from the first kept
// event, and refuses a month whose plays may be among the removed ones
// (ErrIncomplete, the month keeps its flags); a first kept event that
// arrived exactly PruneMargin before a month leaves that month whole.
// The scheduler skips a refused month and scans the next.
func TestScanAfterRetention(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	accts := logPopulation(t, st, lg) // November 2026, received at 0
	opts := fraud.DefaultScanOptions().WithInfo(info(accts)).WithLogger(nil)
	_, flags, err := fraud.Scan(ctx, st, lg, "2026-11", opts)
	if err != nil || len(flags) == 0 {
		t.Fatalf("scan before retention: %d flags, %v", len(flags), err)
	}
	// One later batch, received a day before February: the rest goes.
	recv := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC).Add(-fraud.PruneMargin)
	late := api.PlayRecord{Seq: 1 << 40, Track: "t", Tier: model.TierLow, StartedAt: recv.UnixMilli(), PlayedMs: 60_000,
		EndReason: model.EndCompleted, Source: model.SourceStream}
	if _, err := lg.Append(ctx, events.Batch{Device: "late", User: "late", Received: recv.UnixMilli(), Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{late}}); err != nil {
		t.Fatal(err)
	}
	head, _ := lg.Head(ctx)
	if n, err := lg.Prune(ctx, recv, head); err != nil || n == 0 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	for _, m := range []string{"2026-11", "2027-01"} {
		if _, _, err := fraud.Scan(ctx, st, lg, m, opts); !errors.Is(err, fraud.ErrIncomplete) {
			t.Errorf("scan of %s after retention: %v, want ErrIncomplete", m, err)
		}
	}
	if stored, _ := fraud.Flags(ctx, st, "2026-11"); !slices.Equal(stored, flags) {
		t.Errorf("refused scan changed November's flags: %d, want %d", len(stored), len(flags))
	}
	// February: the first kept event arrived exactly PruneMargin before.
	rec, _, err := fraud.Scan(ctx, st, lg, "2027-02", opts)
	if err != nil || rec.Events != 0 {
		t.Errorf("scan of 2027-02: %+v, %v", rec, err)
	}
	// The scheduler in February skips January (incomplete) and scans
	// February.
	now := time.Date(2027, 2, 10, 0, 0, 0, 0, time.UTC)
	recs, err := fraud.NewScheduler(st, lg, fraud.DefaultScheduleOptions().WithScan(opts).WithClock(func() time.Time { return now }, nil)).ScanNow(ctx)
	if err != nil || len(recs) != 1 || recs[0].Month != "2027-02" {
		t.Errorf("scheduled scans in February: %+v, %v; want February's only", recs, err)
	}
}

// TestScanSmallFarm: a farm of accounts streaming a few promoted tracks
// under 20 times each in the month (playsim.BotSmallFarm) is never scored
// alone; the scan flags its accounts as a group, with the group's
// evidence, and no human, though hundreds have fewer than 20 streams (new
// users, light listeners); a rescan gives the same flags; a flagged
// account's counted streams, which royalties hold out, are its streams in
// the month.
func TestScanSmallFarm(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	accts := logSim(t, st, lg, playsim.DefaultOptions().WithSeed(8).WithHumans(100).WithLight(300).WithBots(10), playsim.SyntheticShape(8, 200, 1000))
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	opts := fraud.DefaultScanOptions().WithLogger(nil).WithClock(func() time.Time { return now })
	_, flags, err := fraud.Scan(ctx, st, lg, "2026-11", opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, again, err := fraud.Scan(ctx, st, lg, "2026-11", opts); err != nil || !slices.Equal(again, flags) {
		t.Fatalf("rescan: %d flags (%v), first scan %d: not the same", len(again), err, len(flags))
	}
	label := map[model.UserID]playsim.Label{}
	for _, a := range accts {
		label[a.User] = a.Label
	}
	byUser := map[model.UserID]fraud.Flag{}
	for _, f := range flags {
		byUser[f.User] = f
		if label[f.User] == playsim.Human {
			t.Errorf("human %s flagged: %s", f.User, f.Explanation)
		}
	}
	light, farm := 0, 0
	for _, a := range accts {
		ts, err := counting.UserMonthStreams(ctx, st, a.User, "2026-11")
		if err != nil {
			t.Fatal(err)
		}
		var streams uint64
		for _, n := range ts {
			streams += n
		}
		switch {
		case a.Label == playsim.Human && streams < fraud.DefaultMinPlays:
			light++
		case a.Label == playsim.BotSmallFarm:
			f, ok := byUser[a.User]
			if !ok {
				continue
			}
			farm++
			if f.Group < 5 || !strings.HasPrefix(f.Explanation, fmt.Sprintf("group of %d accounts under 100 streams each: ", f.Group)) || uint64(f.Plays) != streams {
				t.Errorf("flag %+v, %d counted streams", f, streams)
			}
		}
	}
	if light < 250 || farm < 8 { // the 2 others put over half their streams on cover tracks
		t.Fatalf("%d of 10 small-farm accounts flagged (want ≥ 8), %d humans under 20 streams (want ≥ 250)", farm, light)
	}
	if rec, err := fraud.LastScan(ctx, st, "2026-11"); err != nil || rec.Groups == 0 || rec.GroupsSkipped || rec.Heavy < 0.5 || rec.Heavy >= 1 {
		t.Errorf("scan record %+v, %v", rec, err)
	}
}

// appendListens appends ls (groupPlays) to the log, one batch per
// account, and returns the accounts in order.
func appendListens(t *testing.T, lg events.Log, ls []listen) []model.UserID {
	t.Helper()
	byUser := map[model.UserID][]api.PlayRecord{}
	var users []model.UserID
	for _, p := range groupPlays(ls) {
		if _, ok := byUser[p.User]; !ok {
			users = append(users, p.User)
		}
		byUser[p.User] = append(byUser[p.User], p.Event)
	}
	for _, u := range users {
		if _, err := lg.Append(context.Background(), events.Batch{Device: model.DeviceID("dev-" + u), User: u, Message: []byte("m"), Sig: []byte("s"), Events: byUser[u]}); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

// TestScanFarmOverAQuarter: a farm whose light accounts make over a
// quarter of the month's streams is flagged, and so is a small farm
// beside it, and no simulated human. Before, light accounts over a
// quarter of the streams turned the group check off, so an attacker
// controlled the switch: 150 accounts of 99 streams against 100
// simulated listeners hid themselves and the small farm.
func TestScanFarmOverAQuarter(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	accts := logSim(t, st, lg, playsim.DefaultOptions().WithSeed(8).WithHumans(100).WithLight(300).WithBots(0), playsim.SyntheticShape(8, 200, 1000))
	big := appendListens(t, lg, farm("big", 150, []string{"promo-a", "promo-b", "promo-c"}, 33, 0))
	small := appendListens(t, lg, farm("small", 6, []string{"promo-d", "promo-e"}, 4, 1))
	rec, flags, err := fraud.Scan(ctx, st, lg, "2026-11", fraud.DefaultScanOptions().WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	human := map[model.UserID]bool{}
	for _, a := range accts {
		human[a.User] = a.Label == playsim.Human
	}
	got := map[model.UserID]bool{}
	for _, f := range flags {
		got[f.User] = true
		if human[f.User] {
			t.Errorf("human %s flagged: %s", f.User, f.Explanation)
		}
	}
	for _, u := range slices.Concat(big, small) {
		if !got[u] {
			t.Errorf("farm account %s not flagged", u)
		}
	}
	if rec.GroupsSkipped || rec.Groups != 2 {
		t.Errorf("scan record %+v, want 2 groups", rec)
	}
}

// TestScanFlagsOverATransaction: a farm's group flags, more than one
// store transaction holds (Badger at its smallest memtable, 8 MiB), are
// all written, and a rescan replaces them, leaving one key per flag.
// Before, the scan kept the strongest flags one transaction held (3,265
// of 6,006 here) and at most 10,000 in all, and the streams of the
// accounts left out were paid: a farm big enough was paid.
func TestScanFlagsOverATransaction(t *testing.T) {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions().WithLogger(nil).WithMemTableSize(badgerstore.MinMemTableSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lg := events.NewStoreLog(st)
	var heavy []listen
	for i := range 10 {
		for h := range 7 {
			heavy = append(heavy, listen{fmt.Sprintf("heavy-%d", i), fmt.Sprintf("hit-%d", h), 20})
		}
	}
	appendListens(t, lg, heavy)
	small := appendListens(t, lg, farm("small", 6, []string{"promo-a", "promo-b"}, 4, 1))
	big := appendListens(t, lg, farm("big", 6000, []string{"promo-x", "promo-y"}, 1, 0))
	for _, scan := range []string{"first", "rescan"} {
		rec, flags, err := fraud.Scan(ctx, st, lg, "2026-11", fraud.DefaultScanOptions().WithLogger(nil))
		if err != nil {
			t.Fatalf("%s: %v", scan, err)
		}
		stored, err := fraud.Flags(ctx, st, "2026-11")
		if err != nil || !slices.Equal(stored, flags) || rec.Flagged != len(flags) {
			t.Fatalf("%s: %d flags stored (%v), %d returned, record %+v", scan, len(stored), err, len(flags), rec)
		}
		got := map[model.UserID]bool{}
		for _, f := range flags {
			got[f.User] = true
		}
		n := 0
		for _, u := range slices.Concat(small, big) {
			if got[u] {
				n++
			}
		}
		if n != 6006 {
			t.Errorf("%s: %d of the farms' 6,006 accounts flagged", scan, n)
		}
		if keys := countKeys(t, st, "fraud/2026-11/"); keys != len(flags)+1 {
			t.Errorf("%s: %d keys under fraud/2026-11/, want %d flags and the record", scan, keys, len(flags))
		}
	}
}

// countKeys returns the number of keys under prefix in st.
func countKeys(t *testing.T, st store.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := st.Iterate(context.Background(), []byte(prefix), false, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// errCrash is the failure crashStore injects.
var errCrash = errors.New("crash")

// crashStore is a store whose failAt-th Update fails before running, as
// if the process had been killed before that transaction: every
// transaction before it committed, none after it ran.
type crashStore struct {
	store.Store
	calls, failAt int
}

func (s *crashStore) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	if s.calls++; s.calls == s.failAt {
		return errCrash
	}
	return s.Store.Update(ctx, fn)
}

// TestScanCrashMidWrite: a scan whose flags take several transactions,
// stopped before each of them in turn, leaves the month's previous flags
// exactly (every one, nothing of the new scan) until its record is
// committed, and the new flags exactly from then on; the next scan (with
// the old options) replaces what is there, one key per flag left. Flags stored before
// generations (fraud/<month>/a/) are read until a scan replaces them.
func TestScanCrashMidWrite(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	var heavy []listen
	for i := range 50 {
		for h := range 7 {
			heavy = append(heavy, listen{fmt.Sprintf("heavy-%d", i), fmt.Sprintf("hit-%d", h), 25})
		}
	}
	appendListens(t, lg, heavy)
	appendListens(t, lg, farm("a", fraud.FlagsPerTxn+200, []string{"promo-a", "promo-b"}, 1, 0))
	appendListens(t, lg, farm("b", fraud.FlagsPerTxn+300, []string{"promo-x", "promo-y"}, 1, 0))
	legacy, err := cborx.Marshal(fraud.Flag{User: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, []byte("fraud/2026-11/a/legacy"), legacy); err != nil {
		t.Fatal(err)
	}
	if stored, err := fraud.Flags(ctx, st, "2026-11"); err != nil || len(stored) != 1 || stored[0].User != "legacy" {
		t.Fatalf("flags before generations: %+v, %v", stored, err)
	}
	// Old: farm b alone is a group (a is under the minimum of accounts);
	// new: both farms.
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	base := fraud.DefaultScanOptions().WithLogger(nil).WithClock(func() time.Time { return now })
	oldOpts := base.WithGroups(fraud.DefaultGroupOptions().WithMinAccounts(fraud.FlagsPerTxn + 250))
	_, oldFlags, err := fraud.Scan(ctx, st, lg, "2026-11", oldOpts)
	if err != nil {
		t.Fatal(err)
	}
	_, newFlags, err := fraud.Scan(ctx, st, lg, "2026-11", base)
	if err != nil {
		t.Fatal(err)
	}
	if len(oldFlags) < fraud.FlagsPerTxn || len(newFlags) < 2*fraud.FlagsPerTxn+500 {
		t.Fatalf("%d old flags, %d new", len(oldFlags), len(newFlags))
	}
	if _, _, err := fraud.Scan(ctx, st, lg, "2026-11", oldOpts); err != nil {
		t.Fatal(err)
	}
	for failAt := 1; ; failAt++ {
		cs := &crashStore{Store: st, failAt: failAt}
		rec, _, err := fraud.Scan(ctx, cs, lg, "2026-11", base)
		stored, ferr := fraud.Flags(ctx, st, "2026-11")
		if ferr != nil {
			t.Fatal(ferr)
		}
		last, lerr := fraud.LastScan(ctx, st, "2026-11")
		switch {
		case err != nil && !errors.Is(err, errCrash):
			t.Fatalf("crash at transaction %d: %v", failAt, err)
		case err != nil && !slices.Equal(stored, oldFlags):
			t.Fatalf("crash at transaction %d: %d flags read, want the %d old ones", failAt, len(stored), len(oldFlags))
		case err != nil && (lerr != nil || last.Flagged != len(oldFlags)):
			t.Fatalf("crash at transaction %d: record %+v (%v), want the old scan's", failAt, last, lerr)
		case err == nil && !slices.Equal(stored, newFlags):
			t.Fatalf("crash at transaction %d, scan committed: %d flags read, want the %d new ones", failAt, len(stored), len(newFlags))
		case err == nil && (lerr != nil || last != rec):
			t.Fatalf("crash at transaction %d, scan committed: record %+v (%v), want %+v", failAt, last, lerr, rec)
		}
		// The next scan, not stopped, replaces whatever is there: the
		// old flags again, none of the stopped scan's left.
		if _, _, err := fraud.Scan(ctx, st, lg, "2026-11", oldOpts); err != nil {
			t.Fatalf("crash at transaction %d, then a scan: %v", failAt, err)
		}
		if stored, err := fraud.Flags(ctx, st, "2026-11"); err != nil || !slices.Equal(stored, oldFlags) {
			t.Fatalf("crash at transaction %d, then a scan: %d flags read (%v), want %d", failAt, len(stored), err, len(oldFlags))
		}
		if keys := countKeys(t, st, "fraud/2026-11/"); keys != len(oldFlags)+1 {
			t.Fatalf("crash at transaction %d, then a scan: %d keys, want %d flags and the record", failAt, keys, len(oldFlags))
		}
		if failAt > cs.calls {
			break // the scan ran whole: every transaction was tried
		}
	}
}

// TestCovers: Covers passes a month whose last scan read the log up to
// the counted position, or past it, and plays of other months or under
// the stream threshold counted since; it fails with ErrNotScanned for a
// month never scanned and with ErrStale for a stream of the month
// counted after the scan, or a counted position the log does not reach.
func TestCovers(t *testing.T) {
	ctx := context.Background()
	st, lg := badgerLog(t)
	appendListens(t, lg, farm("a", 3, []string{"x"}, 2, 0))
	if err := fraud.Covers(ctx, st, lg, "2026-11", 6); !errors.Is(err, fraud.ErrNotScanned) {
		t.Fatalf("never scanned: %v", err)
	}
	rec, _, err := fraud.Scan(ctx, st, lg, "2026-11", fraud.DefaultScanOptions().WithLogger(nil))
	if err != nil || rec.Through != 6 {
		t.Fatalf("scan: %+v, %v", rec, err)
	}
	other := api.PlayRecord{Seq: 100, Track: "x", Tier: model.TierLow, StartedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), PlayedMs: 40_000,
		EndReason: model.EndCompleted, Source: model.SourceStream}
	short := other
	short.Seq, short.StartedAt, short.PlayedMs = 101, time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC).UnixMilli(), 29_999
	stream := short
	stream.Seq, stream.PlayedMs = 102, 30_000
	for _, c := range []struct {
		appended *api.PlayRecord
		counted  uint64
		want     string
	}{
		{nil, 0, ""}, {nil, 6, ""},
		{&other, 7, ""}, {&short, 8, ""},
		{nil, 9, "fraud: streams counted after the month's last scan: 2026-11: the log ends at offset 8, before the counted 9"},
		{&stream, 9, "fraud: streams counted after the month's last scan: 2026-11: 1 streams after offset 6"},
	} {
		if c.appended != nil {
			if _, err := lg.Append(ctx, events.Batch{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: []api.PlayRecord{*c.appended}}); err != nil {
				t.Fatal(err)
			}
		}
		err := fraud.Covers(ctx, st, lg, "2026-11", c.counted)
		if (c.want == "" && err != nil) || (c.want != "" && (!errors.Is(err, fraud.ErrStale) || err.Error() != c.want)) {
			t.Errorf("counted %d: %v, want %q", c.counted, err, c.want)
		}
	}
}
