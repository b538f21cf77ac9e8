//go:build !linux

package tcplisten

import (
	"syscall"
	"time"
)

const userTimeoutSupported = false

// setUserTimeout is never called where TCP_USER_TIMEOUT is unsupported.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
