//go:build !linux

package download

import "time"

// bootTime falls back to process-relative monotonic time where no
// boot-time clock is wired up: each restart then looks like a reboot to
// crypto.TrustedClock, which trusts max(wall clock, last trusted time) —
// safe (never earlier than before) but lets a stopped clock stall time.
func bootTime() time.Duration { return processTime() }

// bootID is per process here, matching bootTime.
func bootID() string { return processID }
