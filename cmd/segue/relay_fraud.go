package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/store"
)

// startFraudScans runs the fraud scan of the months plays can still
// arrive for (fraud.Months) every interval in the background (nothing
// when interval is 0), storing
// the flags royalties hold out, as `segue fraud scan` does, and setting
// the relay's flagged-accounts gauge from the current month's scan. The
// returned function stops it and waits.
func startFraudScans(ctx context.Context, st store.Store, evlog events.Log, counts *counting.Service, interval time.Duration, log *slog.Logger) func() {
	if interval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	opts := fraud.DefaultScheduleOptions().WithInterval(interval).
		WithScan(fraud.DefaultScanOptions().WithLogger(log)).
		WithOnScan(func(r fraud.ScanRecord) {
			if r.Month == counting.Month(time.Now().UnixMilli()) {
				counts.SetFlaggedAccounts(r.Flagged)
			}
		})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := fraud.NewScheduler(st, evlog, opts).Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("fraud scans stopped", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}
