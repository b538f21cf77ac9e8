//go:build linux

package relay

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// userTimeoutSupported reports whether setUserTimeout sets anything.
const userTimeoutSupported = true

// setUserTimeout returns a net.ListenConfig.Control that sets
// TCP_USER_TIMEOUT to d on the socket.
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
