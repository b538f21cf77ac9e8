//go:build !linux

package cputime

import "time"

// Process is not available on this platform: benchmarks report wall
// time only.
func Process() (time.Duration, bool) { return 0, false }

// Thread is not available on this platform either.
func Thread() (time.Duration, bool) { return 0, false }
