//go:build !unix

package badgerstore

// statFree cannot tell the free space here: Open does not check it.
func statFree(string) (free uint64, ok bool) { return 0, false }
