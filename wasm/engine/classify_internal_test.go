package engine

import (
	"errors"
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/player"
)

// TestClassifyOfflineLicense: a downloaded track whose offline license
// ran out, was revoked or is missing fails at once
// (player.ErrUnplayable), as in package core, instead of stalling for the
// player's stall timeout; connectivity failures stay stalls.
func TestClassifyOfflineLicense(t *testing.T) {
	for _, tc := range []struct {
		err        error
		unplayable bool
	}{
		{download.ErrLicenseExpired, true},
		{download.ErrRevoked, true},
		{download.ErrNotLicensed, true},
		{fetch.ErrOffline, false},
		{errors.New("transient"), false},
	} {
		got := classify(fmt.Errorf("open t1/high: %w", tc.err))
		if errors.Is(got, player.ErrUnplayable) != tc.unplayable || !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) = %v; unplayable want %v", tc.err, got, tc.unplayable)
		}
	}
}
