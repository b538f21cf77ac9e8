package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/segue-fm/segue/internal/cmem"
)

// metrics are one Server's Prometheus collectors, in a registry of their
// own so several servers (tests, the in-process demo) never collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	series   sync.Map // seriesKey → *routeSeries
}

// seriesKey names one request series: route template, method (one of
// methodOf's) and status. Each part has few values, so the series map
// stays small whatever clients send.
type seriesKey struct {
	route, method string
	status        int
}

// routeSeries are the collectors of one seriesKey, looked up once: label
// lookups in the vectors hash every label on every call.
type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
	bytes    prometheus.Counter
}

// seriesOf returns the collectors of k, creating them on first use.
func (m *metrics) seriesOf(k seriesKey) *routeSeries {
	if v, ok := m.series.Load(k); ok {
		return v.(*routeSeries)
	}
	v, _ := m.series.LoadOrStore(k, &routeSeries{
		requests: m.requests.WithLabelValues(k.route, k.method, statusText(k.status)),
		latency:  m.latency.WithLabelValues(k.route, k.method),
		bytes:    m.bytes.WithLabelValues(k.route),
	})
	return v.(*routeSeries)
}

// methodOf returns the request method as a metric label: a standard
// method as is, anything else "OTHER", so a client inventing methods
// cannot grow the metrics without bound.
func methodOf(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
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
		// The collector's CPU (go_cpu_classes_gc_total_cpu_seconds_total)
		// is what a soft memory limit (segue relay --memory-limit-mib)
		// costs; the limit itself is go_gc_gomemlimit_bytes.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsGC,
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/gc/total:cpu-seconds$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if cmem.Supported() {
		m.reg.MustRegister(cmemGauges()...)
	}
	return m
}

// cmemGauges are the C heap's counters (glibc's mallinfo2, internal/cmem):
// automerge's memory, which the Go collector's figures do not include.
// Each scrape reads them once per gauge (microseconds with the relay's two
// malloc arenas).
func cmemGauges() []prometheus.Collector {
	gauge := func(name, help string, v func(cmem.Heap) uint64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "cmem", Name: name, Help: help},
			func() float64 { return float64(v(cmem.Stats())) })
	}
	return []prometheus.Collector{
		gauge("in_use_bytes", "C heap (glibc) held by live allocations, mmapped ones included.", func(h cmem.Heap) uint64 { return h.InUse }),
		gauge("free_bytes", "C heap (glibc) freed but still held by the allocator, resident until reused or trimmed.", func(h cmem.Heap) uint64 { return h.Free }),
		gauge("mapped_bytes", "Part of the C heap in use served by allocations of their own mmap.", func(h cmem.Heap) uint64 { return h.Mapped }),
	}
}

// routeOf returns the matched route template, bounded in cardinality.
func routeOf(c echo.Context) string {
	p := c.Path()
	if p == "" || strings.HasSuffix(p, "/*") {
		return "unmatched"
	}
	return p
}

// statusClientClosed is the status recorded (never sent) for a request
// whose client went away before the answer: nginx's 499.
const statusClientClosed = 499

// accessLogEvery samples the access log of reads: one GET or HEAD in
// accessLogEvery is logged at info level, every one at debug level. Other
// methods (sign-ups, registrations, key requests…) are all logged at info
// level, server errors at error level.
const accessLogEvery = 1024

// observe is the outermost middleware: it runs the handler, renders its
// error (so the final status is known), then updates the metrics and
// writes the access log, sampling reads. A request whose client went away (its context
// cancelled) is no server error: it is counted with status 499 and logged
// at debug level. One cut by the end of the shutdown grace period that
// ends with an error is answered ErrShuttingDown. It never logs tokens, query strings or bodies.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := s.now()
		err := next(c)
		req, res := c.Request(), c.Response()
		status := res.Status
		if err != nil && errors.Is(context.Cause(req.Context()), ErrShuttingDown) {
			err = RetryLater(ErrShuttingDown, shutdownRetry) // cut by shutdown, not by its client
		}
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled) && req.Context().Err() != nil:
			status = statusClientClosed
		default:
			c.Error(err)
			status = res.Status
		}
		d := s.now().Sub(start)
		route := routeOf(c)
		m := s.met.seriesOf(seriesKey{route: route, method: methodOf(req.Method), status: status})
		m.requests.Inc()
		m.latency.Observe(d.Seconds())
		m.bytes.Add(float64(res.Size))
		lvl := slog.LevelDebug
		switch {
		case status == http.StatusServiceUnavailable:
			lvl = slog.LevelInfo // a deliberate refusal (ErrBusy), not a fault
		case status >= 500:
			lvl = slog.LevelError
		case status == statusClientClosed:
		case req.Method != http.MethodGet && req.Method != http.MethodHead, s.logged.Add(1)%accessLogEvery == 0:
			lvl = slog.LevelInfo
		}
		if !s.log.Enabled(req.Context(), lvl) {
			return nil
		}
		s.log.LogAttrs(req.Context(), lvl, "http",
			slog.String("method", methodOf(req.Method)), slog.String("route", route),
			slog.Int("status", status), slog.Duration("dur", d), slog.Int64("bytes", res.Size))
		return nil
	}
}

// statusText is strconv.Itoa for HTTP statuses, without allocating for
// the common ones.
func statusText(code int) string {
	switch code {
	case http.StatusOK:
		return "200"
	case http.StatusNotModified:
		return "304"
	case http.StatusNotFound:
		return "404"
	case statusClientClosed:
		return "499"
	}
	return strconv.Itoa(code)
}

// adminOnly guards a handler with the relay's admin token
// (Authorization: Bearer; AdminGate). With no admin token configured
// every request is refused.
func (s *Server) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return s.AdminGate(s.opts.adminToken)(next)
}

// AdminGate is middleware that admits only requests bearing token
// (Authorization: Bearer, BearerIs; an empty token, or one
// CheckAdminToken refuses, admits none), for a
// service that mounts admin routes with a token of its own. A wrong
// token counts as a failed credential check of the client address, as a
// failed login does (WithLoginLimits): past the free failures the
// address is blocked, and while it is, a request bearing any token is
// 429 with Retry-After, the right one too, so a block tells nothing
// about a guess. A request without a token is 401 and not counted.
func (s *Server) AdminGate(token string) echo.MiddlewareFunc {
	if err := CheckAdminToken(token); err != nil && token != s.opts.adminToken {
		s.log.Error("relay: a service's admin token refused, every request to its admin routes will be", "err", err)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := s.checkAdmin(c.Request(), token); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// errAdminToken is the refusal of a request without the admin token.
var errAdminToken = fmt.Errorf("%w: admin token required", ErrUnauthorized)

// checkAdmin returns nil when r bears token as its bearer token, else
// errAdminToken, counting a wrong token against r's client address, or
// ErrRateLimited while that address is blocked (AdminGate).
func (s *Server) checkAdmin(r *http.Request, token string) error {
	if _, ok := BearerToken(r); !ok {
		return errAdminToken
	}
	addr := clientAddr(r)
	if err := s.acc.guard.allowAddr(addr); err != nil {
		return err
	}
	if CheckAdminToken(token) != nil || !BearerIs(r, token) {
		s.acc.guard.failedAddr(addr)
		return errAdminToken
	}
	return nil
}

// metricsHandler serves the Prometheus text format of the server's registry.
func (s *Server) metricsHandler() echo.HandlerFunc {
	h := promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{})
	return echo.WrapHandler(h)
}
