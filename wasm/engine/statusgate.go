package engine

import (
	"sync"
	"time"

	"github.com/segue-fm/segue/player"
)

// MaxStatusHold is how long a StatusGate holds a status at most, unless
// told otherwise. Go's timer can only fire while the engine waits (for
// the network): a play from memory runs to its first frames without
// waiting, so this bounds only plays that need the network, whose status
// is then handled while their requests are in flight, not when the
// answers arrive.
const MaxStatusHold = 5 * time.Millisecond

// StatusGate holds a play's statuses on their way to the page from the
// play call (Hold) until its first frames reach the output (Release), so
// that the page's status handlers, which run on the same thread as the
// engine, do not run between a play from memory (a prefetched head) and
// its first audio ("buffering", then "playing" once the track is open). A
// status carrying an error passes at once; a held one passes after
// Max (MaxStatusHold when zero) at most; a later status replaces a held
// one (the page sees the latest). The zero value holds nothing until
// Hold; it is safe for concurrent use.
type StatusGate struct {
	// Max is the longest hold of a status; zero means MaxStatusHold.
	Max time.Duration

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
			d := g.Max
			if d == 0 {
				d = MaxStatusHold
			}
			t := time.NewTimer(d)
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
