// Package userlimit is a token bucket per key (a user name, a client
// address) over golang.org/x/time/rate, on the caller's clock, holding
// at most a fixed number of keys.
package userlimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key holding at most max keys: the least
// recently seen is forgotten first (it starts again with a full bucket).
// Safe for concurrent use.
type Limiter struct {
	every time.Duration
	burst int
	max   int
	mu    sync.Mutex
	order *list.List // of *limited, most recent at the front
	by    map[string]*list.Element
}

type limited struct {
	key string
	lim *rate.Limiter
}

// New returns a Limiter giving each key one token every every, up to
// burst, for at most maxKeys keys at once (at least 1).
func New(every time.Duration, burst, maxKeys int) *Limiter {
	return &Limiter{every: every, burst: burst, max: max(maxKeys, 1), order: list.New(), by: map[string]*list.Element{}}
}

// Allow takes one token of key's bucket at now; when there is none it
// returns false and how long until there will be.
func (l *Limiter) Allow(key string, now time.Time) (bool, time.Duration) {
	return l.AllowN(key, now, 1)
}

// AllowN takes n tokens of key's bucket at now; when there are fewer it
// takes none and returns false and how long until there will be n. n must
// be at most the burst (Burst): more never fit.
func (l *Limiter) AllowN(key string, now time.Time, n int) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.by[key]
	if ok {
		l.order.MoveToFront(el)
	} else {
		if l.order.Len() >= l.max {
			old := l.order.Back()
			l.order.Remove(old)
			delete(l.by, old.Value.(*limited).key)
		}
		el = l.order.PushFront(&limited{key: key, lim: rate.NewLimiter(rate.Every(l.every), l.burst)})
		l.by[key] = el
	}
	r := el.Value.(*limited).lim.ReserveN(now, n)
	if !r.OK() {
		return false, rate.InfDuration
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Burst returns the most tokens a bucket holds.
func (l *Limiter) Burst() int { return l.burst }
