// Package dirsync makes the names created, renamed or removed in a
// directory durable (fsync of the directory), for the writers that
// rename a finished temporary file into place.
package dirsync

// Sync does nothing: Windows cannot flush a directory handle (a rename
// is made durable by NTFS's journal), as Badger's syncDir does there.
func Sync(string) error { return nil }
