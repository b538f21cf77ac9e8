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

// TestSyncKeepaliveClamped: WithSyncKeepalive keeps 0 (off) and clamps
// other values to MinSyncKeepalive…MaxSyncKeepalive, so an embedder's
// negative value turns it off and a tiny one does not ping every
// session many times a second.
func TestSyncKeepaliveClamped(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{-time.Second, 0},
		{0, 0},
		{time.Nanosecond, MinSyncKeepalive},
		{45 * time.Second, 45 * time.Second},
		{MaxSyncKeepalive + 1, MaxSyncKeepalive},
	} {
		if got := DefaultOptions(t.TempDir()).WithSyncKeepalive(c.in).syncAlive; got != c.want {
			t.Errorf("WithSyncKeepalive(%v): %v, want %v", c.in, got, c.want)
		}
	}
}

// TestMaxBodyClamped: WithMaxBody clamps to MinMaxBody…MaxMaxBody, so an
// embedder's 0 or negative limit never makes every JSON request 413.
func TestMaxBodyClamped(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{-1, MinMaxBody},
		{0, MinMaxBody},
		{MinMaxBody - 1, MinMaxBody},
		{MinMaxBody, MinMaxBody},
		{64 << 10, 64 << 10},
		{MaxMaxBody, MaxMaxBody},
		{MaxMaxBody + 1, MaxMaxBody},
	} {
		if got := DefaultOptions(t.TempDir()).WithMaxBody(c.in).maxBody; got != c.want {
			t.Errorf("WithMaxBody(%d): %d, want %d", c.in, got, c.want)
		}
	}
}
