package api

import (
	"time"

	"github.com/segue-fm/segue/internal/retryafter"
)

// ErrRetryLater matches a temporary refusal by the relay: 429 (rate
// limit) or 503 (over capacity, busy), on any API call, blob fetch or the
// sync endpoint's refusal before the WebSocket upgrade. The request may
// succeed later; RetryAfter gives the wait the relay asked for.
var ErrRetryLater = retryafter.ErrRetryLater

// RetryLaterError is a temporary refusal: its Status (429, 503) and the
// wait (After) the relay's Retry-After header asked for, as the relay
// said it (at most a year; RetryAfter gives the wait capped at
// MaxRetryAfter); After is 0 when the relay named no wait or one that
// does not parse. It matches ErrRetryLater; find it with errors.As.
type RetryLaterError = retryafter.Error

// MaxRetryAfter bounds the wait a relay's Retry-After can impose on a
// device (5 min), so a hostile or broken relay cannot park it for ever.
const MaxRetryAfter = retryafter.Max

// ParseRetryAfter reads a Retry-After header value: delta-seconds or an
// HTTP-date relative to now. It returns the wait asked for (at most a
// year; 0 for a date already past), and false for an empty, negative or
// malformed value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	return retryafter.Parse(v, now)
}

// RetryAfter returns how long to wait before retrying after the
// temporary refusal in err's chain: the relay's Retry-After, at most
// MaxRetryAfter; false when err holds none or the relay named no wait.
func RetryAfter(err error) (time.Duration, bool) { return retryafter.Wait(err) }
