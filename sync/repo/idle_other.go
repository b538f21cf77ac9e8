//go:build !linux

package repo

// idleThread does nothing where a thread's priority cannot be set apart
// from its process's (see idle_linux.go).
func idleThread() {}
