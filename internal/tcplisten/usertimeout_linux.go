//go:build linux

package tcplisten

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const userTimeoutSupported = true

// setUserTimeout is a net.ListenConfig Control setting TCP_USER_TIMEOUT.
func setUserTimeout(d time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			return fmt.Errorf("set tcp user timeout: %w", err)
		}
		return nil
	}
}
