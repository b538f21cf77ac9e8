package engine

import (
	"sync"
	"time"

	"github.com/segue-fm/segue/player"
)

// MaxStatusHold bounds how long a StatusGate holds a status: a play that
// needs the network shows "buffering" this late at most.
const MaxStatusHold = 50 * time.Millisecond

// StatusGate holds a play's statuses on their way to the page from the
// play call (Hold) until its first frames reach the output (Release), so
// that the page's status handlers, which run on the same thread as the
// engine, do not run between a play from memory (a prefetched head) and
// its first audio ("buffering", then "playing" once the track is open). A
// status carrying an error passes at once; a held one passes after
// MaxStatusHold at most; a later status replaces a held one (the page
// sees the latest). The zero value holds nothing; it is safe for
// concurrent use.
type StatusGate struct {
	mu   sync.Mutex
	held chan struct{} // closed and cleared by Release; nil when open
}

// Hold starts holding statuses until the next Release.
func (g *StatusGate) Hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held == nil {
		g.held = make(chan struct{})
	}
}

// Release lets held statuses through. It is cheap when nothing is held.
func (g *StatusGate) Release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.held != nil {
		close(g.held)
		g.held = nil
	}
}

func (g *StatusGate) holding() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// Next returns the next status of sub to hand to the page, waiting while
// the gate holds it; false when sub is closed.
func (g *StatusGate) Next(sub <-chan player.Status) (player.Status, bool) {
	st, ok := <-sub
	if !ok {
		return st, false
	}
	var limit <-chan time.Time
	for st.Err == nil {
		held := g.holding()
		if held == nil {
			break
		}
		if limit == nil {
			t := time.NewTimer(MaxStatusHold)
			defer t.Stop()
			limit = t.C
		}
		select {
		case <-held:
		case <-limit:
			g.Release()
		case next, ok := <-sub:
			if !ok {
				return st, true
			}
			st = next
		}
	}
	return st, true
}
