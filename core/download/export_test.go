package download

// SetResolvedHook makes resolve call fn after its network work (album
// lookup, licensing) and before it records the result, so tests can
// interleave other operations at that point deterministically.
func SetResolvedHook(m *Manager, fn func(Ref)) {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.resolved = fn
}

// SetWriteFault makes every write to a blob's temp file call fn first
// and fail with its error when it returns one (a full or failing disk).
// Call it before the first download.
func SetWriteFault(m *Manager, fn func() error) { m.files.writeFault = fn }

// SetFreeSpace makes the manager read the blob directory's free space
// from fn instead of the file system. Call it before the first download.
func SetFreeSpace(m *Manager, fn func() uint64) {
	m.files.free = func(string) (uint64, bool) { return fn(), true }
}
