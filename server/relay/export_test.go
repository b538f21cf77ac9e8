package relay

// WaitMetaCache waits until the metadata cache has applied every Set made
// so far (ristretto applies them asynchronously), so a test knows what it
// holds.
func (s *Server) WaitMetaCache() { s.meta.c.Wait() }
