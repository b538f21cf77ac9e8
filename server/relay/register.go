package relay

import "github.com/prometheus/client_golang/prometheus"

// RegisterMetrics adds collectors of a mounted package (counting, fraud…)
// to the relay's registry, served on GET /metrics with the relay's own.
// It fails when a collector's metrics clash with registered ones.
func (s *Server) RegisterMetrics(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := s.met.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
