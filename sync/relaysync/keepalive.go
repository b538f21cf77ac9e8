package relaysync

import (
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// DefaultKeepalive is the keepalive period of served sessions by default
// (WithKeepalive). A session silent for 30 s to 60 s is pinged, and a
// dead one is closed 60 s to 90 s after the last frame it sent: within
// the 60 s after which common reverse proxies (nginx's
// proxy_read_timeout) and NAT mappings drop a silent connection, so the
// ping also keeps an idle device's path open, and one ping and pong per
// idle session a minute (≈ 170 a second for 10,000 idle peers) costs
// the relay next to nothing.
const DefaultKeepalive = 30 * time.Second

// keepaliveReason is the reason logged for a session the keepalive closed.
const keepaliveReason = "keepalive: no answer to a ping"

// maxPings bounds the keepalive's pings waiting for their pongs at once
// (each a goroutine): a sweep over 10,000 idle sessions, half of them
// due a ping, sends them 256 at a time, each as one of the first 256
// is answered, instead of holding 5,000 goroutines (≈ 20–40 MiB of
// stacks) at its peak. A session waiting its turn is not judged by the
// next sweep until its ping is sent.
const maxPings = 256

// Keepalive states of a liveConn (liveConn.act).
const (
	actSilent int32 = iota // nothing heard since the last sweep
	actHeard               // a message or pong heard since the last sweep
	actBusy                // the session is handling a message it read
)

// WithKeepalive sets the keepalive period d of served sessions: every d
// the endpoint sweeps its sessions (one timer for all, through
// WithAfterFunc, and no goroutine between sweeps); a session it heard
// nothing from since the last sweep (no message, no pong) is sent a
// WebSocket ping, and one that has not answered it by the next sweep is
// closed at once, freeing its place under WithMaxSessions: its device
// is gone (a laptop lid closed, a NAT mapping or a proxy still holding
// a TCP connection whose far end vanished). A session is thus pinged
// after d to 2d of silence and a dead one closed 2d to 3d after the
// last frame it sent. A live idle peer answers (browsers and
// coder/websocket clients answer pings as they read) and stays
// connected, at the cost of one ping and pong, and a short-lived
// goroutine waiting for the pong, every 2d. A session busy handling a
// message it read is not pinged. d ≤ 0 turns the keepalive off.
// Default DefaultKeepalive.
func (o Options) WithKeepalive(d time.Duration) Options { o.keepalive = max(d, 0); return o }

// KeepaliveStats counts the keepalive's work since New.
type KeepaliveStats struct {
	// Pings is how many pings the keepalive sent (at most maxPings wait
	// for their pongs at once), Answered how many of them were answered
	// with a pong.
	Pings, Answered uint64
	// Closed is how many sessions it closed for not answering.
	Closed uint64
}

// keepaliveStats are the counters behind Endpoint.Keepalive.
type keepaliveStats struct {
	pings, answered, closed atomic.Uint64
}

// Keepalive returns the keepalive's counts (WithKeepalive).
func (e *Endpoint) Keepalive() KeepaliveStats {
	return KeepaliveStats{Pings: e.ka.pings.Load(), Answered: e.ka.answered.Load(), Closed: e.ka.closed.Load()}
}

// startSweepLocked schedules the next keepalive sweep unless one is
// scheduled or the keepalive is off. e.live.mu must be held.
func (e *Endpoint) startSweepLocked() {
	if e.opts.keepalive <= 0 || e.live.sweeping {
		return
	}
	e.live.sweeping = true
	e.opts.after(e.opts.keepalive, e.sweep)
}

// sweep is one keepalive round over the live sessions (WithKeepalive):
// it pings the silent ones, closes those that left the last ping
// unanswered and schedules the next round while any session is live.
func (e *Endpoint) sweep() {
	var ping, dead []*liveConn
	e.live.mu.Lock()
	e.live.sweeping = false
	for _, ls := range e.live.byUser {
		for l := range ls {
			switch {
			case l.act.Load() == actBusy || l.act.CompareAndSwap(actHeard, actSilent):
				l.pinged = false
			case l.pinged:
				if l.pingSent.Load() {
					dead = append(dead, l)
				}
			default:
				l.pinged = true
				l.pingSent.Store(false)
				// A ping still unanswered from an earlier round
				// (the peer sent messages since but no pong) is not
				// doubled; the next silent round closes the session.
				if l.pinging.CompareAndSwap(false, true) {
					ping = append(ping, l)
				}
			}
		}
	}
	if len(e.live.byUser) > 0 {
		e.startSweepLocked()
	}
	e.live.mu.Unlock()
	for _, l := range dead {
		e.ka.closed.Add(1)
		l.abort(websocket.StatusGoingAway, keepaliveReason)
	}
	if len(ping) > 0 {
		go e.dispatchPings(ping)
	}
}

// dispatchPings sends the pings of one sweep, at most maxPings waiting
// for their pongs at once across sweeps.
func (e *Endpoint) dispatchPings(ls []*liveConn) {
	for _, l := range ls {
		e.pingSlots <- struct{}{}
		l.pingSent.Store(true)
		e.ka.pings.Add(1)
		go func() {
			defer func() { <-e.pingSlots }()
			e.ping(l)
		}()
	}
}

// ping pings l's peer and waits for the pong (Ping needs a concurrent
// reader: the session's own), which counts as hearing from the peer;
// it gives up when the session ends.
func (e *Endpoint) ping(l *liveConn) {
	defer l.pinging.Store(false)
	if l.ws.Ping(l.ctx) != nil {
		return
	}
	l.act.CompareAndSwap(actSilent, actHeard)
	e.ka.answered.Add(1)
}
