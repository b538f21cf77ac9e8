package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
)

// The offline tools over a relay's data directory (fraud, audit,
// reconcile, royalties) share their --data flag, the opening of the
// directory and the parsing of --month and --day.

// relayDataFlag registers --data on fs.
func relayDataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", "", "relay data directory (of a stopped relay, or a copy)")
}

// openRelayData opens the existing relay data directory dir; it never
// initialises one. The caller closes it.
func openRelayData(ctx context.Context, dir string) (*catalog.DataDir, error) {
	dd, err := catalog.OpenDataDirWith(ctx, dir, catalog.DefaultDataDirOptions())
	if err != nil {
		if errors.Is(err, catalog.ErrNotInitialized) {
			return nil, fmt.Errorf("%w: %s is not a relay data directory", err, dir)
		}
		return nil, fmt.Errorf("open data dir: %w", err)
	}
	return dd, nil
}

// monthArg checks a --month value, YYYY-MM (a usage error otherwise).
func monthArg(month string) error {
	if !counting.ValidMonth(month) {
		return fmt.Errorf("%w: %w", errUsage, counting.ErrBadMonth)
	}
	return nil
}

// dayArg parses a --day value, YYYY-MM-DD (a usage error otherwise).
func dayArg(day string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: --day %q: want YYYY-MM-DD", errUsage, day)
	}
	return d, nil
}
