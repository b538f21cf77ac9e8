//go:build linux && cgo

package main

import (
	"os"
	"testing"
)

// TestLimitMallocArenas: the relay caps glibc's malloc arenas unless
// MALLOC_ARENA_MAX is set, which wins.
func TestLimitMallocArenas(t *testing.T) {
	t.Setenv("MALLOC_ARENA_MAX", "4")
	if limitMallocArenas(2) {
		t.Fatal("limit applied although MALLOC_ARENA_MAX is set")
	}
	if err := os.Unsetenv("MALLOC_ARENA_MAX"); err != nil { // t.Setenv restores it
		t.Fatal(err)
	}
	if !limitMallocArenas(2) {
		t.Fatal("limit not applied (glibc has M_ARENA_MAX)")
	}
}
