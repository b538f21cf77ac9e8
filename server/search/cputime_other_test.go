//go:build !linux

package search

import "time"

// threadCPU is not available here: the benchmarks report wall time only.
func threadCPU() (time.Duration, bool) { return 0, false }

// processCPU is not available here either.
func processCPU() (time.Duration, bool) { return 0, false }
