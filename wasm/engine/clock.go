package engine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// MaxClockAdvance bounds one ForwardClock.Advance.
const MaxClockAdvance = 400 * 24 * time.Hour

// Errors of ForwardClock.Advance.
var (
	// ErrClockHook is returned when the clock was made without the test
	// hook enabled.
	ErrClockHook = errors.New("engine: clock hook not enabled (segue.open with testClock)")
	// ErrClockAdvance is returned for a step that is not in
	// (0, MaxClockAdvance].
	ErrClockAdvance = errors.New("engine: the clock moves forward only, by at most 400 days a step")
)

// ForwardClock is the web player's wall and monotonic clock for the
// downloads' licence checks (download.Options.WithClock): the browser's,
// plus a skew that a test moves forward only (Advance), to take the
// engine past a licence's expiry and its 48 h grace without waiting.
// Moving the clock forward can only make licences expire sooner: the
// trusted clock (crypto.TrustedClock) never goes back, so nothing this
// hook does extends a licence; at worst a page script expires its own
// device's licences early, which it could as well delete.
type ForwardClock struct {
	enabled bool
	start   time.Time
	bootID  string
	skew    atomic.Int64 // nanoseconds, never negative
}

// NewForwardClock returns the clock, starting its own monotonic epoch
// (BootID) now; Advance works only when enabled.
func NewForwardClock(enabled bool) *ForwardClock {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go ≥ 1.24)
	return &ForwardClock{enabled: enabled, start: time.Now(), bootID: "page-" + hex.EncodeToString(b)}
}

// Wall returns the wall time plus the skew.
func (c *ForwardClock) Wall() time.Time { return time.Now().Add(time.Duration(c.skew.Load())) }

// Mono returns the time since NewForwardClock plus the skew.
func (c *ForwardClock) Mono() time.Duration {
	return time.Since(c.start) + time.Duration(c.skew.Load())
}

// BootID names the clock's monotonic epoch (one per clock).
func (c *ForwardClock) BootID() string { return c.bootID }

// Advance moves the clock forward by d: ErrClockHook unless enabled,
// ErrClockAdvance unless 0 < d ≤ MaxClockAdvance.
func (c *ForwardClock) Advance(d time.Duration) error {
	if !c.enabled {
		return ErrClockHook
	}
	if d <= 0 || d > MaxClockAdvance {
		return fmt.Errorf("%w: %v", ErrClockAdvance, d)
	}
	c.skew.Add(int64(d))
	return nil
}
