//go:build linux && cgo

package cmem

/*
#include <malloc.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
static int segue_cmem_stats(size_t *inuse, size_t *free, size_t *mmapped) {
	struct mallinfo2 m = mallinfo2();
	*inuse = m.uordblks + m.hblkhd;
	*free = m.fordblks;
	*mmapped = m.hblkhd;
	return 1;
}
static int segue_cmem_trim(void) { return malloc_trim(0); }
#else
static int segue_cmem_stats(size_t *inuse, size_t *free, size_t *mmapped) { return 0; }
static int segue_cmem_trim(void) { return 0; }
#endif

static int segue_cmem_limit_arenas(int n) {
#ifdef M_ARENA_MAX
	return mallopt(M_ARENA_MAX, n);
#else
	return 0;
#endif
}
*/
import "C"

import "os"

// LimitArenas caps glibc's malloc arenas at n, unless MALLOC_ARENA_MAX is
// set in the environment (the operator's choice wins): automerge's C
// allocations come from whichever OS thread makes the cgo call, and glibc
// gives each thread its own arena (up to 8 per core), whose freed memory
// stays resident; measured on the relay's sync path, two arenas halve the
// RSS for the same work. It reports whether the limit was applied (false
// on a C library without M_ARENA_MAX, such as musl, whose allocator has no
// per-thread arenas). Call it at start-up, before the C heap is busy.
func LimitArenas(n int) bool {
	if _, set := os.LookupEnv("MALLOC_ARENA_MAX"); set {
		return false
	}
	return C.segue_cmem_limit_arenas(C.int(n)) == 1
}

// Supported reports whether Stats and Trim work in this build (glibc
// 2.33 or later).
func Supported() bool {
	var a, b, c C.size_t
	return C.segue_cmem_stats(&a, &b, &c) == 1
}

// Stats returns the C heap's counters (zeros when not Supported). It
// walks the allocator's arenas under their locks: cheap (microseconds
// with the relay's two arenas) but not free, so sample it, do not call it
// per message.
func Stats() Heap {
	var inuse, free, mmapped C.size_t
	if C.segue_cmem_stats(&inuse, &free, &mmapped) != 1 {
		return Heap{}
	}
	return Heap{InUse: uint64(inuse), Free: uint64(free), Mapped: uint64(mmapped)}
}

// Trim returns the free memory of every arena to the operating system
// (malloc_trim(0)) and reports whether any was returned. It holds each
// arena's lock while it walks it, so allocations in other threads wait
// for that arena meanwhile (about a millisecond per 100 MiB of free
// memory).
func Trim() bool { return C.segue_cmem_trim() == 1 }
