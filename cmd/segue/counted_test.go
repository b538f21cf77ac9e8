package main

import (
	"context"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
)

// newDataDir creates a relay data directory in a new temporary directory
// and returns its path and the open directory, which the test closes
// before a command opens the path.
func newDataDir(t *testing.T) (string, *catalog.DataDir) {
	t.Helper()
	dir := t.TempDir()
	dd, err := catalog.OpenDataDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return dir, dd
}

// countPlays appends evs to dd's event log as one batch of device "d" of
// user "u", as the relay logs an upload, then runs one step of the
// counting consumer with cat and chain (nil: none) and opts.
func countPlays(t *testing.T, dd *catalog.DataDir, evs []api.PlayRecord, cat *catalog.Catalog, chain *audit.Chain, opts counting.Options) {
	t.Helper()
	countBatches(t, dd, []events.Batch{{Device: "d", User: "u", Message: []byte("m"), Sig: []byte("s"), Events: evs}}, cat, chain, opts)
}

// countBatches appends the batches to dd's event log, as the relay logs
// uploads, then runs one step of the counting consumer with cat and
// chain (nil: none) and opts.
func countBatches(t *testing.T, dd *catalog.DataDir, batches []events.Batch, cat *catalog.Catalog, chain *audit.Chain, opts counting.Options) {
	t.Helper()
	ctx := context.Background()
	lg := events.NewStoreLog(dd.Store)
	for _, b := range batches {
		if _, err := lg.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := counting.New(dd.Store, lg, cat, chain, opts).Step(ctx); err != nil {
		t.Fatal(err)
	}
}
