package fraud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/store"
)

// ScheduleOptions configures a Scheduler. DefaultScheduleOptions: a scan
// every 6 hours, DefaultScanOptions, the system clock and timers, no
// callback.
type ScheduleOptions struct {
	interval time.Duration
	scan     ScanOptions
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	onScan   func(ScanRecord)
}

// DefaultScheduleOptions returns the defaults above.
func DefaultScheduleOptions() ScheduleOptions {
	return ScheduleOptions{interval: 6 * time.Hour, scan: DefaultScanOptions(), now: time.Now, after: time.After}
}

// WithInterval sets the time between scans (default 6 h; non-positive
// values keep the current one).
func (o ScheduleOptions) WithInterval(d time.Duration) ScheduleOptions {
	if d > 0 {
		o.interval = d
	}
	return o
}

// WithScan sets the options of each Scan (its clock is replaced by the
// scheduler's).
func (o ScheduleOptions) WithScan(s ScanOptions) ScheduleOptions { o.scan = s; return o }

// WithClock sets the clock that picks the months and stamps the flags,
// and the timer Run waits on (nil keeps the current one): tests pass a
// fake clock and a channel they fire.
func (o ScheduleOptions) WithClock(now func() time.Time, after func(time.Duration) <-chan time.Time) ScheduleOptions {
	if now != nil {
		o.now = now
	}
	if after != nil {
		o.after = after
	}
	return o
}

// WithOnScan sets a function called with every successful scan's record
// (the relay sets its flagged-accounts gauge from the current month's).
func (o ScheduleOptions) WithOnScan(fn func(ScanRecord)) ScheduleOptions { o.onScan = fn; return o }

// Scheduler runs Scan on the relay at a fixed interval, for the current
// UTC month and every earlier one a play can still arrive for (Months:
// plays recorded offline arrive up to MaxLateness after they started,
// and statements are computed after their month), so royalties
// read the same flags as after `segue fraud scan`. It does not own the
// store or the log.
type Scheduler struct {
	st   store.Store
	log  events.Log
	opts ScheduleOptions
}

// NewScheduler returns a scheduler over st and log.
func NewScheduler(st store.Store, log events.Log, opts ScheduleOptions) *Scheduler {
	return &Scheduler{st: st, log: log, opts: opts}
}

// MaxLateness is how long after its start a play can still reach the
// count: the relay refuses an older one as too_old (the license offline
// window, license.DefaultValidity + license.DefaultGrace, 32 days, plus
// counting's allowed clock skew of 5 minutes, which the hour covers).
const MaxLateness = license.DefaultValidity + license.DefaultGrace + time.Hour

// Months returns the months a scan at now covers, oldest first: every UTC
// month a play started in can still be counted in (MaxLateness before
// now), at least the previous and the current one; three on the first
// days of a month.
func Months(now time.Time) []string {
	cur := now.UTC()
	first := time.Date(cur.Year(), cur.Month(), 1, 0, 0, 0, 0, time.UTC)
	oldest := min(cur.Add(-MaxLateness).UnixMilli(), first.AddDate(0, -1, 0).UnixMilli())
	var out []string
	for m := first; m.UnixMilli() > oldest || counting.Month(m.UnixMilli()) == counting.Month(oldest); m = m.AddDate(0, -1, 0) {
		out = append(out, counting.Month(m.UnixMilli()))
	}
	slices.Reverse(out)
	return out
}

// ScanNow scans Months(now) and returns their records, oldest first. A
// month retention has cut into (ErrIncomplete) is skipped with a log
// line and keeps its flags; otherwise it stops at the first failed scan
// (earlier months keep their new flags, the failed one its previous
// flags).
func (s *Scheduler) ScanNow(ctx context.Context) ([]ScanRecord, error) {
	var recs []ScanRecord
	for _, m := range Months(s.opts.now()) {
		rec, _, err := Scan(ctx, s.st, s.log, m, s.opts.scan.WithClock(s.opts.now))
		if errors.Is(err, ErrIncomplete) {
			s.opts.scan.lg.Warn("fraud: scheduled scan skipped, the month keeps its flags", "month", m, "err", err)
			continue
		}
		if err != nil {
			return recs, fmt.Errorf("fraud: scheduled scan of %s: %w", m, err)
		}
		recs = append(recs, rec)
		if s.opts.onScan != nil {
			s.opts.onScan(rec)
		}
	}
	return recs, nil
}

// Run scans at once and then every interval until ctx is done, and
// returns ctx's error. A failed scan is logged and retried at the next
// interval; it does not stop the schedule.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		if _, err := s.ScanNow(ctx); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.opts.scan.lg.Error("fraud: scheduled scan failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.opts.after(s.opts.interval):
		}
	}
}
