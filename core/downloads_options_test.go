package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// TestOpenDownloadsZeroOptions: download.Options not made by
// DefaultOptions are refused with download.ErrOptions (they panicked
// OpenDownloads on the missing clock), and DefaultOptions still open.
func TestOpenDownloadsZeroOptions(t *testing.T) {
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins("http://127.0.0.1:1"))
	ctx := t.Context()
	if _, err := e.OpenDownloads(ctx, download.Options{}); !errors.Is(err, download.ErrOptions) {
		t.Fatalf("OpenDownloads(Options{}) = %v, want download.ErrOptions", err)
	}
	if _, err := e.OpenDownloads(ctx, download.DefaultOptions().WithLogger(quiet())); err != nil {
		t.Fatalf("OpenDownloads(DefaultOptions()) after the refusal: %v", err)
	}
}
