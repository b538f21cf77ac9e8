package relaysync

// SetPingSlots sets how many keepalive pings of ep may wait for their
// pongs at once (maxPings in the relay), before ep serves anything.
func SetPingSlots(ep *Endpoint, n int) { ep.pingSlots = make(chan struct{}, n) }

// LivePeerID reports whether a live connection of ep joined as peer id.
func LivePeerID(ep *Endpoint, id string) bool {
	ep.live.mu.Lock()
	defer ep.live.mu.Unlock()
	return len(ep.live.byPeer[id]) > 0
}
