//go:build race

package peer

// raceEnabled: the race detector randomises the scheduler's order of
// runnable goroutines, which some tests depend on.
const raceEnabled = true
