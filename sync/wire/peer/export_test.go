package peer

// PerDocSets counts s's per-document sets that are made (non-nil) among
// those an idle session drops: dirty, requested, refusals, refusing,
// behind, last and paced.
func (s *Session) PerDocSets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, made := range []bool{s.dirty != nil, s.requested != nil, s.refusals != nil, s.refusing != nil, s.behind != nil, s.last != nil, s.paced != nil} {
		if made {
			n++
		}
	}
	return n
}
