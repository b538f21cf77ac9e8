//go:build linux && cgo

package cmem

import (
	"os"
	"testing"
)

// TestLimitArenas: LimitArenas caps glibc's malloc arenas unless
// MALLOC_ARENA_MAX is set, which wins.
func TestLimitArenas(t *testing.T) {
	t.Setenv("MALLOC_ARENA_MAX", "4")
	if LimitArenas(2) {
		t.Fatal("limit applied although MALLOC_ARENA_MAX is set")
	}
	if err := os.Unsetenv("MALLOC_ARENA_MAX"); err != nil { // t.Setenv restores it
		t.Fatal(err)
	}
	if !LimitArenas(2) {
		t.Fatal("limit not applied (glibc has M_ARENA_MAX)")
	}
}
