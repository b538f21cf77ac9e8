package relay

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are one Server's Prometheus collectors, in a registry of their
// own so several servers (tests, the in-process demo) never collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "segue", Subsystem: "relay", Name: "http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "segue", Subsystem: "relay", Name: "http_request_duration_seconds",
			Help:    "HTTP request latency by route template and method.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "segue", Subsystem: "relay", Name: "response_bytes_total",
			Help: "Response body bytes written, by route template.",
		}, []string{"route"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.bytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// routeOf returns the matched route template, bounded in cardinality.
func routeOf(c echo.Context) string {
	p := c.Path()
	if p == "" || strings.HasSuffix(p, "/*") {
		return "unmatched"
	}
	return p
}

// observe is the outermost middleware: it runs the handler, renders its
// error (so the final status is known), then logs the request and updates
// the metrics. It never logs tokens, query strings or bodies.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		d := s.now().Sub(start)
		req, res := c.Request(), c.Response()
		route := routeOf(c)
		code := strconv.Itoa(res.Status)
		s.met.requests.WithLabelValues(route, req.Method, code).Inc()
		s.met.latency.WithLabelValues(route, req.Method).Observe(d.Seconds())
		s.met.bytes.WithLabelValues(route).Add(float64(res.Size))
		lvl := slog.LevelInfo
		if res.Status >= 500 && res.Status != http.StatusServiceUnavailable {
			lvl = slog.LevelError // 503 is a deliberate refusal (ErrBusy), not a fault
		}
		s.log.LogAttrs(req.Context(), lvl, "http",
			slog.String("method", req.Method), slog.String("route", route),
			slog.Int("status", res.Status), slog.Duration("dur", d), slog.Int64("bytes", res.Size))
		return nil
	}
}

// adminOnly guards a handler with the admin token (Authorization: Bearer).
// With no admin token configured every request is refused.
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.isAdmin(c.Request()) {
			return ErrUnauthorized
		}
		return next(c)
	}
}

func (s *Server) isAdmin(r *http.Request) bool { return BearerIs(r, s.opts.adminToken) }

// metricsHandler serves the Prometheus text format of the server's registry.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{})
	return echo.WrapHandler(h)
}
