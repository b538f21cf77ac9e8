package core_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
)

// TestOpenTwiceLocked: a second engine on a data directory this process
// has open failed with "in use by another process", and only
// badgerstore.ErrLocked matched it, a package callers of core do not
// import. It matches core.ErrLocked now and says this process; once
// the first engine is closed the directory opens again.
func TestOpenTwiceLocked(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet())
	e, err := core.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = core.Open(ctx, dir, opts)
	if !errors.Is(err, core.ErrLocked) || !strings.Contains(err.Error(), "open in this process") {
		t.Fatalf("second open: %v, want core.ErrLocked saying this process", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e, err = core.Open(ctx, dir, opts)
	if err != nil {
		t.Fatalf("open after the first engine closed: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
