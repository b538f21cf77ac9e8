// Package retryafter reads the relay's temporary refusals (HTTP 429 and
// 503) and their Retry-After header, for every client of the relay on the
// device side (core/fetch, core/api, sync/client, wasm/engine, player).
package retryafter

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Max bounds the wait a Retry-After can impose (5 min, Wait): a hostile
// or broken relay cannot park a device for longer per refusal.
const Max = 5 * time.Minute

// Longest is the longest wait Parse reads (a year): a larger value reads
// as Longest, so it cannot overflow a time.Duration.
const Longest = 365 * 24 * time.Hour

// ErrRetryLater matches a temporary refusal by the relay (429 Too Many
// Requests, 503 Service Unavailable): the same request may succeed
// later. errors.As with *Error gives the wait the relay asked for.
var ErrRetryLater = errors.New("relay busy, retry later")

// Error is a temporary refusal: Status is 429 or 503, After the wait the
// relay's Retry-After asked for (at most Longest; a client waits at most
// Max of it, see Wait), 0 when it named none or one that does not parse
// (the client's own backoff applies).
type Error struct {
	Status int
	After  time.Duration
}

// Error implements error: "relay busy (status 503), retry in 7 s".
func (e *Error) Error() string {
	if e.After <= 0 {
		return fmt.Sprintf("relay busy (status %d), retry later", e.Status)
	}
	return fmt.Sprintf("relay busy (status %d), retry in %d s", e.Status, Seconds(e.After))
}

// Seconds returns d in whole seconds, rounded up: the wait a message
// names.
func Seconds(d time.Duration) int64 { return int64(math.Ceil(d.Seconds())) }

// Is makes every *Error match ErrRetryLater.
func (e *Error) Is(target error) bool { return target == ErrRetryLater }

// Temporary reports whether an HTTP status is a temporary refusal (429,
// 503).
func Temporary(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}

// Parse reads a Retry-After value (RFC 9110 §10.2.3): delta-seconds, or
// an HTTP-date taken relative to now. It returns the wait the relay asked
// for (at most Longest), and false for a value that is empty, negative
// or not either form. A date already past is a wait of 0 (true: retry at
// once).
func Parse(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			var ne *strconv.NumError
			if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
				return Longest, true // all digits, too many of them
			}
			return 0, false
		}
		if n >= uint64(Longest/time.Second) {
			return Longest, true
		}
		return time.Duration(n) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return min(max(t.Sub(now), 0), Longest), true
}

// FromResponse returns the *Error of a temporary refusal, nil for any
// other status. An HTTP-date Retry-After is taken relative to the
// response's own Date header when it has one (so the device's clock does
// not matter), else relative to now.
func FromResponse(resp *http.Response, now time.Time) *Error {
	if resp == nil || !Temporary(resp.StatusCode) {
		return nil
	}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		now = d
	}
	after, _ := Parse(resp.Header.Get("Retry-After"), now)
	return &Error{Status: resp.StatusCode, After: after}
}

// Wait returns how long a client waits for the temporary refusal in
// err's chain: its After, at most Max; false when err holds none with a
// wait (After > 0).
func Wait(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.After > 0 {
		return min(e.After, Max), true
	}
	return 0, false
}
