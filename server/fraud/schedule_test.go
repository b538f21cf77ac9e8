package fraud_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/store"
)

// TestMonths: a scan covers the current UTC month and every earlier one
// a play can still reach the count for (MaxLateness, 32 days and an
// hour), at least the previous one, across a year end. Before, it covered
// the previous and the current month only, so from the 1st to the 4th of
// March the relay counted plays of 28–31 January, up to 32 days old, and
// never scanned them.
func TestMonths(t *testing.T) {
	for at, want := range map[time.Time][]string{
		time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC):                     {"2026-10", "2026-11", "2026-12"},
		time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC):                     {"2026-10", "2026-11", "2026-12"},
		time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC):                     {"2026-11", "2026-12"},
		time.Date(2027, 1, 31, 23, 59, 0, 0, time.UTC):                   {"2026-12", "2027-01"},
		time.Date(2026, 12, 1, 0, 30, 0, 0, time.FixedZone("x", 2*3600)): {"2026-10", "2026-11"},
		time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC):                    {"2026-02", "2026-03"},
		time.Date(2027, 3, 2, 12, 0, 0, 0, time.UTC):                     {"2027-01", "2027-02", "2027-03"},
		time.Date(2027, 3, 5, 0, 59, 0, 0, time.UTC):                     {"2027-01", "2027-02", "2027-03"},
		time.Date(2027, 3, 5, 1, 1, 0, 0, time.UTC):                      {"2027-02", "2027-03"},
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC):                      {"2026-11", "2026-12", "2027-01"},
	} {
		if got := fraud.Months(at); !slices.Equal(got, want) {
			t.Errorf("Months(%v) = %v, want %v", at, got, want)
		}
	}
}

// TestSchedulerFakeClock runs the relay's scheduled scan on a fake clock:
// it scans at once, then only when the fake timer fires (asking for the
// configured interval), writes the same flags `segue fraud scan` does
// (read back with fraud.Flags, as royalties do), reports each scan, and
// stops with its context.
func TestSchedulerFakeClock(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := store.NewMemory()
	lg := events.NewStoreLog(st)
	accts := logPopulation(t, st, lg)
	var mu sync.Mutex
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC) // November and December (TestMonths)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fire := make(chan time.Time)
	asked := make(chan time.Duration, 1)
	after := func(d time.Duration) <-chan time.Time { asked <- d; return fire }
	scans := make(chan fraud.ScanRecord, 4)
	opts := fraud.DefaultScheduleOptions().WithInterval(90*time.Minute).WithClock(clock, after).
		WithScan(fraud.DefaultScanOptions().WithInfo(info(accts)).WithLogger(nil)).
		WithOnScan(func(r fraud.ScanRecord) { scans <- r })
	done := make(chan error, 1)
	go func() { done <- fraud.NewScheduler(st, lg, opts).Run(ctx) }()

	wait := func(month string, at time.Time) fraud.ScanRecord {
		t.Helper()
		select {
		case r := <-scans:
			if r.Month != month || r.Time != at.UnixMilli() {
				t.Fatalf("scan %s at %d, want %s at %d", r.Month, r.Time, month, at.UnixMilli())
			}
			return r
		case <-time.After(30 * time.Second):
			t.Fatalf("no scan of %s", month)
		}
		return fraud.ScanRecord{}
	}
	first := wait("2026-11", now)
	wait("2026-12", now)
	if d := <-asked; d != 90*time.Minute {
		t.Fatalf("waits %v, want the interval", d)
	}
	if first.Flagged == 0 || first.Events == 0 {
		t.Fatalf("first scan %+v flagged nobody", first)
	}
	stored, err := fraud.Flags(ctx, st, "2026-11")
	if err != nil || len(stored) != first.Flagged {
		t.Fatalf("stored flags %d, %v; scan flagged %d", len(stored), err, first.Flagged)
	}
	// No scan until the timer fires.
	select {
	case r := <-scans:
		t.Fatalf("scan %+v before the timer fired", r)
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	now = now.Add(90 * time.Minute)
	later := now
	mu.Unlock()
	fire <- later
	wait("2026-11", later)
	wait("2026-12", later)
	stored, err = fraud.Flags(ctx, st, "2026-11")
	if err != nil || len(stored) != first.Flagged || stored[0].Time != later.UnixMilli() {
		t.Fatalf("flags after the second scan: %+v, %v", stored, err)
	}
	<-asked
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
}
