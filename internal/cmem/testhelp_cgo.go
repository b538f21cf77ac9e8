//go:build linux && cgo

package cmem

// #include <stdlib.h>
import "C"

import "unsafe"

// testAlloc allocates n C blocks of size bytes (for tests: cgo is not
// allowed in _test.go files).
func testAlloc(size, n int) []unsafe.Pointer {
	ps := make([]unsafe.Pointer, n)
	for i := range ps {
		ps[i] = C.malloc(C.size_t(size))
		*(*byte)(ps[i]) = 1
	}
	return ps
}

// testFree frees blocks made by testAlloc.
func testFree(ps []unsafe.Pointer) {
	for _, p := range ps {
		C.free(p)
	}
}
