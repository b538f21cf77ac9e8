//go:build linux

package download

import (
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// bootTime returns time since boot including suspend (CLOCK_BOOTTIME): it
// keeps counting across engine restarts and resets only at reboot, which
// is what crypto.TrustedClock expects of its monotonic source.
func bootTime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return processTime()
	}
	return time.Duration(ts.Nano())
}

// bootID identifies the current boot (the kernel's random boot id), so a
// persisted monotonic anchor from an earlier boot is not trusted.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return processID
	}
	return strings.TrimSpace(string(b))
}
