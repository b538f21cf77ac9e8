package relay

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/bytebudget"
)

// Defaults of WithBlobMemory.
const (
	DefaultBlobMemory = 1 << 30
	DefaultBlobWait   = 2 * time.Second
	// MaxBlobWait bounds segue relay --blob-wait: a request that would
	// wait longer is better answered 503 so its client retries or goes
	// elsewhere.
	MaxBlobWait = time.Minute
)

// maxBlobSizes bounds the sizes of blobs served by hash that the relay
// remembers (to reserve exactly for their next request); the map is
// emptied when full.
const maxBlobSizes = 1 << 18

// blobRetry is the Retry-After of an audio request refused by
// WithBlobMemory.
const blobRetry = time.Second

// WithBlobMemory bounds the bytes of blob bodies (headers, chunks,
// /v1/blobs) the relay holds while it serves them: a request reserves
// the blob's size before it reads the blob — from its manifest for a
// header or chunk, from an earlier read of the same hash for /v1/blobs,
// else the largest blob (model.MaxBlobSize) — and keeps it until its
// answer is written. A request that finds too little room waits up to
// wait, then is answered 503 with Retry-After (ErrBusy). n is at least
// model.MaxBlobSize (smaller is raised to it); wait < 0 is 0 (no wait).
// Default DefaultBlobMemory (1 GiB) and DefaultBlobWait (2 s).
func (o Options) WithBlobMemory(n int64, wait time.Duration) Options {
	o.blobMemory, o.blobWait = max(n, model.MaxBlobSize), max(wait, 0)
	return o
}

// Defaults of WithSlowClient: an answer of n bytes must be written within
// 30 s + n / 32 KiB/s.
const (
	DefaultSendGrace = 30 * time.Second
	DefaultSendRate  = 32 << 10
)

// WithSlowClient bounds how long writing one audio blob answer (header,
// chunk, /v1/blobs) of n bytes may take: grace plus n at minRate bytes a
// second (the top stream tier is 40 KB/s, a chunk at most a few hundred
// KB). A client that reads slower has its connection (HTTP/1.1) or
// stream (HTTP/2) cut, so it cannot hold a blob, and its share of
// WithBlobMemory, for as long as it likes. Values ≤ 0 keep the default:
// DefaultSendGrace (30 s) and DefaultSendRate (32 KiB/s).
func (o Options) WithSlowClient(grace time.Duration, minRate int64) Options {
	if grace > 0 {
		o.sendGrace = grace
	}
	if minRate > 0 {
		o.sendRate = minRate
	}
	return o
}

// sendDeadline returns when an answer of n bytes starting now must be
// written (WithSlowClient).
func (o Options) sendDeadline(n int) time.Time {
	return time.Now().Add(o.sendGrace + time.Duration(float64(n)/float64(o.sendRate)*float64(time.Second)))
}

// blobMemory is the budget of WithBlobMemory and the sizes of blobs
// served by hash.
type blobMemory struct {
	budget *bytebudget.Budget
	mu     sync.Mutex
	sizes  map[[32]byte]int64
}

func newBlobMemory(n int64, wait time.Duration) *blobMemory {
	return &blobMemory{budget: bytebudget.New(max(n, model.MaxBlobSize), wait), sizes: make(map[[32]byte]int64)}
}

// reserve reserves the size of blob h (size when known, > 0) before it
// is read; it returns the bytes reserved.
func (m *blobMemory) reserve(ctx context.Context, h [32]byte, size int64) (int64, error) {
	if size <= 0 {
		m.mu.Lock()
		size = m.sizes[h]
		m.mu.Unlock()
	}
	if size <= 0 || size > model.MaxBlobSize {
		size = model.MaxBlobSize
	}
	err := m.budget.Acquire(ctx, size)
	if errors.Is(err, bytebudget.ErrFull) {
		return 0, retryLater(ErrBusy, blobRetry, "blob memory: %v", err)
	}
	return size, err
}

// settle adjusts a reservation of held bytes to the blob h of n bytes
// just read, and remembers its size; false when more is needed and there
// is no room (the reservation is then released).
func (m *blobMemory) settle(h [32]byte, held, n int64) bool {
	m.mu.Lock()
	if len(m.sizes) >= maxBlobSizes {
		clear(m.sizes)
	}
	m.sizes[h] = n
	m.mu.Unlock()
	switch {
	case n < held:
		m.budget.Release(held - n)
	case n > held && !m.budget.TryAcquire(n-held):
		m.budget.Release(held)
		return false
	}
	return true
}

// BlobMemory returns the bytes of blob bodies WithBlobMemory counts now,
// the most it has counted at once, and how many requests it refused.
func (s *Server) BlobMemory() (held, peak, refused int64) {
	b := s.blobMem.budget
	return b.Used(), b.Peak(), b.Refused()
}

// blobMemoryCollectors are the metrics of WithBlobMemory.
func (s *Server) blobMemoryCollectors() []prometheus.Collector {
	b := s.blobMem.budget
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "relay", Name: "blob_bytes_held",
			Help: "Bytes of blob bodies the relay holds while serving them (segue relay --blob-memory-mib)."},
			func() float64 { return float64(b.Used()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "relay", Name: "blob_requests_refused_total",
			Help: "Audio requests answered 503 because the blob memory budget had no room within its wait."},
			func() float64 { return float64(b.Refused()) }),
	}
}
