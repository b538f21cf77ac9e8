//go:build !linux

package relay

import (
	"syscall"
	"time"
)

// userTimeoutSupported reports whether setUserTimeout sets anything:
// TCP_USER_TIMEOUT is Linux's.
const userTimeoutSupported = false

// setUserTimeout does nothing here (see userTimeoutSupported).
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
