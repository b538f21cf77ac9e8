package counting

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are a Service's Prometheus collectors, registered on the relay
// by Mount (GET /metrics, admin token).
type metrics struct {
	accepted   prometheus.Counter
	duplicates prometheus.Counter
	rejected   *prometheus.CounterVec
	counted    prometheus.Counter
	consumed   prometheus.Counter
	flagged    prometheus.Gauge
	lag        prometheus.GaugeFunc
}

func newMetrics(s *Service) *metrics {
	return &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "segue", Subsystem: "counting", Name: "events_accepted_total",
			Help: "Play events appended to the event log (rate: events/s)."}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "segue", Subsystem: "counting", Name: "events_duplicate_total",
			Help: "Play events uploaded again with the same (device, seq) and content."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "segue", Subsystem: "counting", Name: "events_rejected_total",
			Help: "Play events rejected, by reason."}, []string{"reason"}),
		counted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "segue", Subsystem: "counting", Name: "streams_counted_total",
			Help: "Streams counted by the consumer."}),
		consumed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "segue", Subsystem: "counting", Name: "events_consumed_total",
			Help: "Log entries the consumer has committed."}),
		flagged: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "counting", Name: "flagged_accounts",
			Help: "Accounts whose streams fraud detection currently flags (set by the fraud scorer)."}),
		lag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "counting", Name: "consumer_lag_events",
			Help: "Log entries appended but not yet counted (head − consumer position)."}, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			lag, err := s.Lag(ctx)
			if err != nil {
				return -1
			}
			return float64(lag)
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.accepted, m.duplicates, m.rejected, m.counted, m.consumed, m.flagged, m.lag}
}

// Lag returns how many logged events the consumer has not counted yet.
func (s *Service) Lag(ctx context.Context) (uint64, error) {
	head, err := s.log.Head(ctx)
	if err != nil {
		return 0, err
	}
	pos, err := s.Position(ctx)
	if err != nil {
		return 0, err
	}
	return head - min(pos, head), nil
}

// SetFlaggedAccounts sets the segue_counting_flagged_accounts gauge: the
// fraud scorer calls it with the number of accounts it currently flags.
func (s *Service) SetFlaggedAccounts(n int) { s.met.flagged.Set(float64(n)) }
