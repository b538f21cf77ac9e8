package download

// SetResolvedHook makes resolve call fn after its network work (album
// lookup, licensing) and before it records the result, so tests can
// interleave other operations at that point deterministically.
func SetResolvedHook(m *Manager, fn func(Ref)) {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.resolved = fn
}
