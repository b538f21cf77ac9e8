//go:build !unix

package download

// statFree cannot tell the free space here: downloads do not check it.
func statFree(string) (free uint64, ok bool) { return 0, false }
