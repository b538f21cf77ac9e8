//go:build !linux || !cgo

package cmem

// LimitArenas does nothing on this platform (no glibc arenas).
func LimitArenas(int) bool { return false }

// Supported reports whether Stats and Trim work in this build: not on
// this platform.
func Supported() bool { return false }

// Stats returns zeros on this platform.
func Stats() Heap { return Heap{} }

// Trim does nothing on this platform.
func Trim() bool { return false }
