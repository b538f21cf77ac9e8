package relay

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/segue-fm/segue/server/access"
)

// SetAccessWriter makes the relay record every audio blob it sends to a
// device (header, chunk by position, blob by hash; GET answers 200 and
// 206 with a body, not HEAD or 304) as an access.Record, the evidence
// reconciliation checks counted streams against (docs/ARCHITECTURE.md
// "Access records"). Write only queues the record, so serving never waits
// for the disk; records dropped by a full queue are counted in
// segue_relay_access_records_dropped_total. Call it before serving; the
// Server does not own w (close it after the server has stopped).
func (s *Server) SetAccessWriter(w access.Writer) {
	s.accessW = w
	s.met.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "segue", Subsystem: "relay", Name: "access_records_written_total",
			Help: "Access records written durably.",
		}, func() float64 { return float64(w.Stats().Written) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "segue", Subsystem: "relay", Name: "access_records_dropped_total",
			Help: "Access records dropped because the writer's queue was full.",
		}, func() float64 { return float64(w.Stats().Dropped) }),
	)
}

// recordAccess queues rec (kind, track, tier, chunks and blob set by the
// caller) completed from the request's device and the response that was
// just sent.
func (s *Server) recordAccess(c echo.Context, rec access.Record) {
	if s.accessW == nil || c.Request().Method != http.MethodGet {
		return
	}
	res := c.Response()
	if (res.Status != http.StatusOK && res.Status != http.StatusPartialContent) || res.Size <= 0 {
		return
	}
	dev, ok := DeviceFrom(c)
	if !ok {
		return
	}
	rec.Time = s.now().UnixMilli()
	rec.Device = dev.ID
	rec.Bytes = uint64(res.Size)
	if res.Status == http.StatusPartialContent {
		rec.Offset = access.RangeStart(res.Header().Get("Content-Range"))
	}
	if err := s.accessW.Write(rec); err != nil {
		s.log.Debug("relay: access record not queued", "err", err)
	}
}
