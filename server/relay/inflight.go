package relay

import (
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxInFlight is how many requests the relay handles at once by
// default (WithMaxInFlight). Over HTTP/2 one connection carries up to
// 250 concurrent requests, so without it the connection cap
// (WithMaxConns) bounded nothing of the goroutines, memory and store
// reads a flood of requests costs.
const DefaultMaxInFlight = 4096

// MaxMaxInFlight bounds WithMaxInFlight (and segue relay --max-inflight).
const MaxMaxInFlight = 1 << 20

// inFlightRetry is the Retry-After of a request refused by WithMaxInFlight.
const inFlightRetry = time.Second

// WithMaxInFlight caps the requests the relay handles at once, across
// all clients: one past it is answered 503 with Retry-After: 1 before
// its handler runs (its credentials are not checked). /healthz, /metrics
// and the routes marked with Server.LongLived (event streams, which have
// their own caps) are not counted; a sync WebSocket counts only until it
// is upgraded. n ≤ 0 removes the cap; larger than MaxMaxInFlight is
// clamped. Default DefaultMaxInFlight.
func (o Options) WithMaxInFlight(n int) Options {
	o.maxInFlight = min(max(n, 0), MaxMaxInFlight)
	return o
}

// LongLived marks the route path (as registered, e.g.
// "/v1/activity/stream") as holding its requests open for long, so
// WithMaxInFlight does not count them: such a route must bound its own
// requests per user. Its requests over HTTP/1.x, each holding a
// connection, take one of the relay's long-lived connections
// (LongLivedConns, shared with sync sessions) while they run, and past
// the budget are answered 503 with Retry-After: 10. As a browser's
// EventSource sends no headers, Auth takes the device token from
// ?token= on it too (on other routes only from the header). Call it
// before serving.
func (s *Server) LongLived(path string) { s.longLived[path] = true }

// limitInFlight is middleware enforcing WithMaxInFlight with one atomic
// counter.
func (s *Server) limitInFlight(next echo.HandlerFunc) echo.HandlerFunc {
	max := int64(s.opts.maxInFlight)
	if max <= 0 {
		return next
	}
	return func(c echo.Context) error {
		if p := c.Path(); p == "/healthz" || p == "/metrics" || s.longLived[p] {
			return next(c)
		}
		defer s.inFlight.Add(-1)
		if s.inFlight.Add(1) > max {
			s.inFlightRefused.Add(1)
			return retryLater(ErrBusy, inFlightRetry, "%d requests in flight", max)
		}
		return next(c)
	}
}

// InFlight returns how many requests WithMaxInFlight counts at the moment.
func (s *Server) InFlight() int { return int(s.inFlight.Load()) }

// inFlightCollectors are the metrics of WithMaxInFlight.
func (s *Server) inFlightCollectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "relay", Name: "requests_in_flight",
			Help: "Requests the relay handles now, as the in-flight cap (segue relay --max-inflight) counts them."},
			func() float64 { return float64(s.inFlight.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "relay", Name: "requests_refused_in_flight_total",
			Help: "Requests answered 503 because the in-flight cap was reached."},
			func() float64 { return float64(s.inFlightRefused.Load()) }),
	}
}
