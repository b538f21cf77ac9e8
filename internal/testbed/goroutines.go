package testbed

import (
	"runtime"
	"strings"
)

// Stacks returns the stacks of all the process's goroutines as
// runtime.Stack prints them (one block per goroutine, blocks separated
// by a blank line), however long they are.
func Stacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// Goroutines returns how many times fn (a function name, or a part of
// one, as runtime.Stack prints it) occurs in Stacks: for a function that
// runs at most once on a goroutine's stack, how many goroutines run it.
// Tests use it to see that background work they started has ended.
func Goroutines(fn string) int { return strings.Count(Stacks(), fn) }
