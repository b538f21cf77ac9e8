package relaysync

// SetPingSlots sets how many keepalive pings of ep may wait for their
// pongs at once (maxPings in the relay), before ep serves anything.
func SetPingSlots(ep *Endpoint, n int) { ep.pingSlots = make(chan struct{}, n) }
