package relay

import (
	"testing"
	"time"
)

// TestSyncPaceAndWindowClamped: WithSyncPace and WithSyncWindow clamp
// to 0…their maximum, so an embedder's out-of-range value never holds a
// follower's changes longer than half the 100 ms delivery goal.
func TestSyncPaceAndWindowClamped(t *testing.T) {
	for _, c := range []struct {
		in, pace, window time.Duration
	}{
		{-time.Second, 0, 0},
		{0, 0, 0},
		{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		{MaxSyncPace, MaxSyncPace, MaxSyncWindow},
		{time.Hour, MaxSyncPace, MaxSyncWindow},
	} {
		o := DefaultOptions(t.TempDir()).WithSyncPace(c.in).WithSyncWindow(c.in)
		if o.syncPace != c.pace || o.syncWindow != c.window {
			t.Errorf("%v: pace %v, window %v; want %v, %v", c.in, o.syncPace, o.syncWindow, c.pace, c.window)
		}
	}
}
