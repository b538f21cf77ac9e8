package social

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/segue-fm/segue/core/model"
)

// userLimiter is a token bucket per user (golang.org/x/time/rate) on the
// injected clock, holding at most max users: the least recently seen is
// forgotten first (it starts again with a full bucket). Safe for
// concurrent use.
type userLimiter struct {
	every time.Duration
	burst int
	max   int
	mu    sync.Mutex
	order *list.List // of *limited, most recent at the front
	by    map[model.UserID]*list.Element
}

type limited struct {
	user model.UserID
	lim  *rate.Limiter
}

func newUserLimiter(every time.Duration, burst, maxUsers int) *userLimiter {
	return &userLimiter{every: every, burst: burst, max: max(maxUsers, 1), order: list.New(), by: map[model.UserID]*list.Element{}}
}

// allow takes one token of user's bucket at now; when there is none it
// returns false and how long until there will be.
func (l *userLimiter) allow(user model.UserID, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.by[user]
	if ok {
		l.order.MoveToFront(el)
	} else {
		if l.order.Len() >= l.max {
			old := l.order.Back()
			l.order.Remove(old)
			delete(l.by, old.Value.(*limited).user)
		}
		el = l.order.PushFront(&limited{user: user, lim: rate.NewLimiter(rate.Every(l.every), l.burst)})
		l.by[user] = el
	}
	r := el.Value.(*limited).lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}
