//go:build linux && cgo

package main

/*
#include <malloc.h>

static int synccap_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

import "os"

// limitMallocArenas caps glibc's malloc arenas at n, as `segue relay`
// does (cmd/segue/malloc_cgo.go), unless MALLOC_ARENA_MAX is set: the
// devices' automerge documents allocate from whichever OS thread makes
// the cgo call, and glibc's per-thread arenas keep their freed memory
// resident. It reports whether the limit was applied.
func limitMallocArenas(n int) bool {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		return false
	}
	return C.synccap_limit_arenas(C.int(n)) == 1
}
