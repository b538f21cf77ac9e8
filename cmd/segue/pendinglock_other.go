//go:build !unix

package main

import "os"

// lockPending is a no-op where flock is unavailable.
func lockPending(*os.File) error { return nil }

// abandoned cannot tell a live writer's file here: none is removed.
func abandoned(string) bool { return false }
