package msync

// AskForSkipped is Segue's one rule on top of automerge's protocol, for
// callers to run after Receive(g, s, m, …): when m carried a change that
// g could not take because a dependency is missing (the peer skipped
// that dependency on a false positive of our Bloom filter), it ends s's
// wait for the peer (InFlight), so the next Generate sends the message
// whose Need asks for the dependency.
//
// automerge 0.5 (and Receive, which is byte for byte automerge's) stays
// in flight while its own sent changes are unacknowledged, and since the
// peer's heads then include a change it cannot place, they stay
// unacknowledged: neither side speaks again until one of them changes
// the document (TestSkippedDependencyIsAskedFor). Asking once more costs
// one message; the peer answers a Need with the change.
func AskForSkipped(g *Graph, s *State, m *Message) {
	for _, c := range m.Changes {
		if !g.Has(c.Hash) {
			s.InFlight = false
			return
		}
	}
}
