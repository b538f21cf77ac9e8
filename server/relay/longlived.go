package relay

import (
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// longLivedRetry is the Retry-After of a long-lived connection refused
// because the budget is spent: as the sync endpoint's session caps.
const longLivedRetry = 10 * time.Second

// connBudget is the relay's budget of long-lived connections: sync
// WebSocket sessions and the requests of LongLived routes (activity
// streams) served over a connection of their own (HTTP/1.x), together
// at most three quarters of WithMaxConns, so however many accounts hold
// them, a quarter of the connections (4,096 by default) stays for
// ordinary requests and /healthz. It implements relaysync.Slots.
type connBudget struct {
	max     int64
	n       atomic.Int64
	refused atomic.Uint64
}

// longLivedBudget returns the long-lived connections allowed under a
// connection cap of maxConns: maxConns − maxConns/4 (12,288 of 16,384).
func longLivedBudget(maxConns int) int64 { return int64(maxConns - maxConns/4) }

// TryAcquire takes one connection of the budget, reporting false (and
// counting a refusal) when none is left.
func (b *connBudget) TryAcquire() bool {
	if b.n.Add(1) > b.max {
		b.n.Add(-1)
		b.refused.Add(1)
		return false
	}
	return true
}

// Release gives back a connection TryAcquire took.
func (b *connBudget) Release() { b.n.Add(-1) }

// Full reports whether the budget has no connection left.
func (b *connBudget) Full() bool { return b.n.Load() >= b.max }

// LongLivedConns returns how many long-lived connections (sync sessions
// and activity streams with a connection of their own) the relay holds,
// and its budget of them: three quarters of WithMaxConns.
func (s *Server) LongLivedConns() (open, budget int) {
	return int(s.longBudget.n.Load()), int(s.longBudget.max)
}

// limitLongLived is middleware taking a connection of the long-lived
// budget for the request of a LongLived route while it runs, when the
// request holds its connection alone (HTTP/1.x; HTTP/2 multiplexes it
// with others); past the budget it is answered 503 with Retry-After: 10
// before its handler runs.
func (s *Server) limitLongLived(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.longLived[c.Path()] || c.Request().ProtoMajor >= 2 {
			return next(c)
		}
		if !s.longBudget.TryAcquire() {
			return retryLater(ErrBusy, longLivedRetry, "%d long-lived connections open", s.longBudget.max)
		}
		defer s.longBudget.Release()
		return next(c)
	}
}

// longLivedCollectors are the metrics of the long-lived budget.
func (s *Server) longLivedCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "relay", Name: "long_lived_connections",
			Help: "Long-lived connections the relay holds (sync sessions, activity streams over HTTP/1.x), at most three quarters of its connection cap."},
			func() float64 { return float64(s.longBudget.n.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "relay", Name: "long_lived_refused_total",
			Help: "Sync connections and activity streams answered 503 because the long-lived connection budget was spent."},
			func() float64 { return float64(s.longBudget.refused.Load()) }),
	}
}
