package tcplisten_test

import (
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/tcplisten"
)

// TestClamp: 0 and negatives are off; the rest is clamped to the bounds.
func TestClamp(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{0, 0},
		{-time.Hour, 0},
		{time.Millisecond, tcplisten.MinUserTimeout},
		{5 * time.Second, 5 * time.Second},
		{time.Hour, tcplisten.MaxUserTimeout},
	} {
		if got := tcplisten.Clamp(c.in); got != c.want {
			t.Errorf("Clamp(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}
