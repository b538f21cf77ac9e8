//go:build !unix

package badgerstore

// probeLock is a no-op where flock is unavailable: Badger's own lock
// still refuses a second opener, after checkBeforeOpen has read the files.
func probeLock(string) (release func(), err error) { return func() {}, nil }
