package relayrecs

import (
	"testing"
	"time"
)

// TestPacer: the waits owed for busy time at a share, taken once they
// reach minPaceWait, capped at maxPaceWait; share 1 never waits; no
// wait for no work or a clock that went back.
func TestPacer(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name  string
		share float64
		busy  []time.Duration
		want  []time.Duration
	}{
		{"a quarter", 0.25, []time.Duration{40 * ms, 10 * ms}, []time.Duration{120 * ms, 30 * ms}},
		{"a half", 0.5, []time.Duration{20 * ms}, []time.Duration{20 * ms}},
		{"small waits add up", 0.25, []time.Duration{ms, ms, ms, ms}, []time.Duration{0, 0, 0, 12 * ms}},
		{"share 1", 1, []time.Duration{time.Second}, []time.Duration{0}},
		{"no work, clock back", 0.25, []time.Duration{0, -time.Second, 10 * ms}, []time.Duration{0, 0, 30 * ms}},
		{"capped", 0.25, []time.Duration{time.Hour}, []time.Duration{maxPaceWait}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &pacer{share: tc.share}
			for i, b := range tc.busy {
				if got := p.spent(b); got != tc.want[i] {
					t.Fatalf("spent(%v) #%d = %v, want %v", b, i, got, tc.want[i])
				}
			}
		})
	}
}
