package testbed

import (
	"runtime"
	"strings"
)

// Goroutines returns how many times fn (a function name, or a part of
// one, as runtime.Stack prints it) occurs in the stacks of all the
// process's goroutines: for a function that runs at most once on a
// goroutine's stack, how many goroutines run it. Tests use it to see
// that background work they started has ended.
func Goroutines(fn string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	return strings.Count(string(buf), fn)
}
