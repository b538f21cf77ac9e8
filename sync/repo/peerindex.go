package repo

import "sync"

// peerIndex records, per peer, the handles on which the peer has a sync
// state or held changes, so that PeerDisconnected visits those handles
// instead of every handle the repo knows. A relay keeps a Handle for every
// document any follower touched: with 100,000 of them one disconnect was
// 100,000 handle visits (each waiting for that document's queued writes),
// and a mass reconnect of 10,000 peers 10⁹.
//
// An entry is added when a sync state with the peer is created or changes
// are held for it, and the peer's whole entry is taken by
// PeerDisconnected; a handle unloaded or replaced meanwhile stays listed
// until then (visiting it finds nothing to drop). mu is a leaf lock: add
// is called under a Handle's mu.
type peerIndex struct {
	mu sync.Mutex
	m  map[PeerID]map[*Handle]struct{}
}

// add records that peer has state on h.
func (x *peerIndex) add(peer PeerID, h *Handle) {
	x.mu.Lock()
	defer x.mu.Unlock()
	hs := x.m[peer]
	if hs == nil {
		if x.m == nil {
			x.m = map[PeerID]map[*Handle]struct{}{}
		}
		hs = map[*Handle]struct{}{}
		x.m[peer] = hs
	}
	hs[h] = struct{}{}
}

// take removes and returns the handles on which peer has state; the order
// is unspecified.
func (x *peerIndex) take(peer PeerID) []*Handle {
	x.mu.Lock()
	defer x.mu.Unlock()
	hs := x.m[peer]
	delete(x.m, peer)
	out := make([]*Handle, 0, len(hs))
	for h := range hs {
		out = append(out, h)
	}
	return out
}
