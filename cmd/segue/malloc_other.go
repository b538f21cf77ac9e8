//go:build !linux || !cgo

package main

// limitMallocArenas does nothing outside glibc (see malloc_cgo.go).
func limitMallocArenas(int) bool { return false }
