//go:build linux && cgo

package main

/*
#include <malloc.h>

static int segue_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

import "os"

// limitMallocArenas caps glibc's malloc arenas at n, unless the operator
// set MALLOC_ARENA_MAX: automerge's C allocations come from whichever OS
// thread makes the cgo call, and glibc gives each thread its own arena
// (up to 8 per core), whose freed memory stays resident; measured on the
// relay's sync path, two arenas halve the RSS for the same work. It
// reports whether the limit was applied (false on a C library without
// M_ARENA_MAX, such as musl, whose allocator has no per-thread arenas).
func limitMallocArenas(n int) bool {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		return false
	}
	return C.segue_limit_arenas(C.int(n)) == 1
}
