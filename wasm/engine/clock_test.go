package engine_test

import (
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/wasm/engine"
)

// TestForwardClock: Advance refuses unless enabled, refuses a step back,
// nothing or too far, and moves Wall and Mono forward together.
func TestForwardClock(t *testing.T) {
	if err := engine.NewForwardClock(false).Advance(time.Hour); !errors.Is(err, engine.ErrClockHook) {
		t.Fatalf("Advance on a clock without the hook = %v, want ErrClockHook", err)
	}
	c := engine.NewForwardClock(true)
	for _, d := range []time.Duration{-time.Hour, 0, engine.MaxClockAdvance + 1} {
		if err := c.Advance(d); !errors.Is(err, engine.ErrClockAdvance) {
			t.Errorf("Advance(%v) = %v, want ErrClockAdvance", d, err)
		}
	}
	w0, m0 := c.Wall(), c.Mono()
	if d := w0.Sub(time.Now()).Abs(); d > time.Minute {
		t.Fatalf("Wall is %v off the system clock before any Advance", d)
	}
	if err := c.Advance(49 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := c.Wall().Sub(w0); got < 49*time.Hour || got > 49*time.Hour+time.Minute {
		t.Errorf("Wall moved %v, want 49 h", got)
	}
	if got := c.Mono() - m0; got < 49*time.Hour || got > 49*time.Hour+time.Minute {
		t.Errorf("Mono moved %v, want 49 h", got)
	}
	if c.BootID() == "" || c.BootID() == engine.NewForwardClock(true).BootID() {
		t.Errorf("BootID %q: want one of its own per clock", c.BootID())
	}
}
