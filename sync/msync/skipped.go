package msync

// AskForSkipped is Segue's one rule on top of automerge's protocol, for
// callers to run after Receive(g, s, m, …): when m names a change g
// lacks, it ends s's wait for the peer (InFlight), so the next Generate
// sends the message whose Need asks for it. That is a change m carried
// but g could not take because a dependency is missing (the peer
// skipped that dependency on a false positive of our Bloom filter), or
// a head of the peer that m did not carry (the peer skipped its own new
// change on such a false positive and sent its heads alone).
//
// automerge 0.5 (and Receive, which is byte for byte automerge's) stays
// in flight while its own sent changes are unacknowledged, and since the
// peer's heads then include a change it cannot place, they stay
// unacknowledged: neither side speaks again until one of them changes
// the document (TestSkippedDependencyIsAskedFor, TestUnsentHeadIsAskedFor).
// Asking once more costs one message; the peer answers a Need with the
// change.
func AskForSkipped(g *Graph, s *State, m *Message) {
	for _, c := range m.Changes {
		if !g.Has(c.Hash) {
			s.InFlight = false
			return
		}
	}
	for _, h := range m.Heads {
		if !g.Has(h) {
			s.InFlight = false
			return
		}
	}
}
