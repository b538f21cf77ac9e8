package crypto

import (
	"fmt"
	"time"
)

// TrustedClock is the device's estimate of true time for license checks
// (DESIGN §4): it remembers the latest signed server time it has seen and
// the monotonic progress since, so winding the device clock back does not
// extend a license. It is a pure state machine: the caller passes every
// clock reading in, which makes it deterministic under a fake clock. Not
// safe for concurrent use; the zero value knows nothing yet.
//
// localMonotonic is any clock that only moves forward while the device is
// up (time since boot, e.g. CLOCK_BOOTTIME, or a process-start-relative
// monotonic reading persisted with the clock); a reading smaller than the
// anchor means the source was reset (reboot), after which the clock falls
// back to the larger of the wall clock and the last trusted time.
type TrustedClock struct {
	lastServer time.Time     // newest server time observed (replays of older ones are ignored)
	base       time.Time     // trusted time at the anchor
	anchorMono time.Duration // monotonic reading at the anchor
	anchored   bool          // base/anchorMono are set and the monotonic source has not reset
	last       time.Time     // latest value Now returned; Now never goes below it
}

// Observe feeds a server time whose signature the caller has verified
// (License.ServerTime from OpenLicense, or a signed time response) read
// at localMonotonic. A server time newer than any seen before becomes the
// new anchor — even if it is earlier than a device clock that had been
// wound forward, since the server is the authority. Older (replayed)
// server times are ignored. It reports whether the observation was used.
func (c *TrustedClock) Observe(serverTime time.Time, localMonotonic time.Duration) bool {
	if !c.lastServer.IsZero() && !serverTime.After(c.lastServer) {
		return false
	}
	c.lastServer = serverTime
	c.base, c.anchorMono, c.anchored = serverTime, localMonotonic, true
	c.last = serverTime
	return true
}

// Rebooted tells the clock that its monotonic source started again (a
// state persisted in another boot, whose readings count from another
// epoch): the anchor is dropped, so the next Now falls back to the
// larger of the wall clock and the last trusted time and re-anchors
// there. Kept, an old anchor at or below this boot's readings counted
// them as progress since it, so trusted time resumed where it stood at
// shutdown, losing the time the device was off.
func (c *TrustedClock) Rebooted() { c.anchored = false }

// Raise moves trusted time up to floor, read at localMonotonic, when
// floor is later than Now(localWall, localMonotonic): a time the device's
// own records show its trusted clock had reached (a persisted mark, a
// queued play), which may have come from a wall clock that ran ahead. It
// is not a server time: the newest server time seen stays as it was, so
// the next signed server time newer than that re-anchors the clock, even
// below floor (the server is the authority). It reports whether floor
// was used.
func (c *TrustedClock) Raise(floor, localWall time.Time, localMonotonic time.Duration) bool {
	if !floor.After(c.Now(localWall, localMonotonic)) {
		return false
	}
	c.base, c.anchorMono, c.anchored, c.last = floor, localMonotonic, true, floor
	return true
}

// Now returns the trusted time given the device wall clock and the
// monotonic reading: the anchor plus monotonic progress while the
// monotonic source is intact, else the device wall clock; never earlier
// than a value it returned before (until a newer server time is observed).
func (c *TrustedClock) Now(localWall time.Time, localMonotonic time.Duration) time.Time {
	var est time.Time
	if c.anchored && localMonotonic >= c.anchorMono {
		est = c.base.Add(localMonotonic - c.anchorMono)
	} else {
		// No anchor, or the monotonic source reset: the wall clock is all
		// we have; re-anchor so monotonic progress counts from here.
		est = localWall
		if est.Before(c.last) {
			est = c.last
		}
		c.base, c.anchorMono, c.anchored = est, localMonotonic, true
	}
	if est.Before(c.last) {
		est = c.last
	}
	c.last = est
	return est
}

// clockState is the persisted form: Unix nanoseconds (0 for zero times).
type clockState struct {
	Version    int   `cbor:"1,keyasint"`
	LastServer int64 `cbor:"2,keyasint"`
	Base       int64 `cbor:"3,keyasint"`
	AnchorMono int64 `cbor:"4,keyasint"`
	Anchored   bool  `cbor:"5,keyasint"`
	Last       int64 `cbor:"6,keyasint"`
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// MarshalBinary returns the clock's state (deterministic CBOR, a new
// slice) for the engine to persist after every Observe and periodically
// after Now.
func (c *TrustedClock) MarshalBinary() ([]byte, error) {
	return encMode.Marshal(clockState{
		Version: 1, LastServer: nanos(c.lastServer), Base: nanos(c.base),
		AnchorMono: int64(c.anchorMono), Anchored: c.anchored, Last: nanos(c.last),
	})
}

// UnmarshalBinary restores a state written by MarshalBinary; errors match
// ErrMalformed. On error c is unchanged.
func (c *TrustedClock) UnmarshalBinary(b []byte) error {
	var s clockState
	if err := decMode.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: trusted clock: %w", ErrMalformed, err)
	}
	if s.Version != 1 || s.AnchorMono < 0 {
		return fmt.Errorf("%w: trusted clock version %d", ErrMalformed, s.Version)
	}
	*c = TrustedClock{
		lastServer: fromNanos(s.LastServer), base: fromNanos(s.Base),
		anchorMono: time.Duration(s.AnchorMono), anchored: s.Anchored, last: fromNanos(s.Last),
	}
	return nil
}
