package relay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/bytebudget"
	"github.com/segue-fm/segue/internal/sendtime"
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
// header or chunk, from an earlier read of the same hash, a published
// manifest that lists it or the blob store's size (catalog.BlobSize) for
// /v1/blobs, else (a store that cannot tell) model.MaxBlobSize; settled
// to the blob's size once read — and keeps it until its answer is
// written. A request that finds too little room waits up to wait in all
// (for its client's share, WithBlobMemoryPerClient, and the budget
// together), then is answered 503 with Retry-After (ErrBusy). n is at
// least model.MaxBlobSize (smaller is raised to it); wait < 0 is 0 (no
// wait). Default
// DefaultBlobMemory (1 GiB) and DefaultBlobWait (2 s).
func (o Options) WithBlobMemory(n int64, wait time.Duration) Options {
	o.blobMemory, o.blobWait = max(n, model.MaxBlobSize), max(wait, 0)
	return o
}

// WithBlobMemoryPerClient bounds the part of WithBlobMemory's budget one
// client holds: the requests of one account (of one client address,
// relay.ClientAddr, for a request without a device token) hold at most
// n bytes of blobs at once, and one that would take its client past n
// waits, as for the budget, for the client's earlier requests, then is
// answered 503 with Retry-After (ErrBusy). So one client's many parallel
// reads cannot make every other listener wait. n is raised to
// model.MaxBlobSize and lowered to the budget. Default 0: a quarter of
// the budget, at least model.MaxBlobSize (256 MiB of the default 1 GiB).
func (o Options) WithBlobMemoryPerClient(n int64) Options {
	o.blobClient = max(n, 0)
	return o
}

// blobClientShare returns the per-client part of the blob memory budget
// (WithBlobMemoryPerClient).
func (o Options) blobClientShare() int64 {
	n := o.blobClient
	if n == 0 {
		n = o.blobMemory / 4
	}
	return min(max(n, model.MaxBlobSize), max(o.blobMemory, model.MaxBlobSize))
}

// Defaults of WithSlowClient: an answer of n bytes must be written within
// 30 s + n / 32 KiB/s.
const (
	DefaultSendGrace = sendtime.DefaultGrace
	DefaultSendRate  = sendtime.DefaultRate
)

// WithSlowClient bounds how long writing one audio blob answer (header,
// chunk, /v1/blobs) of n bytes may take: grace plus n at minRate bytes a
// second (the top stream tier is 40 KB/s, a chunk at most a few hundred
// KB). A client that reads slower has its connection (HTTP/1.1) or
// stream (HTTP/2) cut, so it cannot hold a blob, and its share of
// WithBlobMemory, for as long as it likes. The same rule bounds each
// write of n bytes to a sync WebSocket (peer.QueueOptions.WithSlowClient):
// a device that stops reading, or vanishes without a FIN, while the relay
// has data for it has its session closed instead of holding it, its
// queued bytes and its place under the connection budgets until TCP
// gives up. Values ≤ 0 keep the default:
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
	return o.sendLimit().Deadline(time.Now(), n)
}

// sendLimit is the slow-client rule of WithSlowClient.
func (o Options) sendLimit() sendtime.Limit {
	return sendtime.Limit{Grace: o.sendGrace, Rate: o.sendRate}
}

// blobMemory is the budget of WithBlobMemory, each client's part of it
// (WithBlobMemoryPerClient) and the sizes of blobs served by hash.
type blobMemory struct {
	budget *bytebudget.Budget
	shares *bytebudget.Shares
	// wait is how long one request may wait for room in all
	// (WithBlobMemory): its client's share and the budget together.
	wait time.Duration
	// shareRefused counts the requests refused by their client's share.
	shareRefused atomic.Int64
	mu           sync.Mutex
	sizes        map[[32]byte]int64
}

func newBlobMemory(opts Options) *blobMemory {
	return &blobMemory{budget: bytebudget.New(max(opts.blobMemory, model.MaxBlobSize), opts.blobWait),
		shares: bytebudget.NewShares(opts.blobClientShare(), opts.blobWait), wait: opts.blobWait, sizes: make(map[[32]byte]int64)}
}

// blobClient returns the key a request's blob bytes are charged to
// (WithBlobMemoryPerClient): its account, else its client address.
func blobClient(c echo.Context) string {
	if d, ok := DeviceFrom(c); ok {
		return "user:" + string(d.User)
	}
	return "addr:" + clientAddr(c.Request())
}

// knownSize returns the size of blob h remembered from an earlier read,
// 0 when none is.
func (m *blobMemory) knownSize(h [32]byte) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sizes[h]
}

// reserve reserves for client the size of a blob before it is read (size
// when known, > 0; else the largest a blob may be, model.MaxBlobSize, so
// that the bytes read are counted whatever they turn out to be); it
// returns the bytes reserved. It waits at most m.wait in all: the budget
// gets what is left of it after the client's share (before, each waited
// m.wait, so a request could wait twice it).
func (m *blobMemory) reserve(ctx context.Context, client string, size int64) (int64, error) {
	deadline := time.Now().Add(m.wait)
	if size <= 0 || size > model.MaxBlobSize {
		size = model.MaxBlobSize
	}
	if err := m.shares.TakeWithin(ctx, client, size, m.wait); err != nil {
		if errors.Is(err, bytebudget.ErrFull) {
			m.shareRefused.Add(1)
			return 0, retryLater(ErrBusy, blobRetry, "blob memory of this client: %v", err)
		}
		return 0, err
	}
	if err := m.budget.AcquireWithin(ctx, size, time.Until(deadline)); err != nil {
		m.shares.Give(client, size)
		if errors.Is(err, bytebudget.ErrFull) {
			return 0, retryLater(ErrBusy, blobRetry, "blob memory: %v", err)
		}
		return 0, err
	}
	return size, nil
}

// settle adjusts client's reservation of held bytes to the blob h of n
// bytes just read, and remembers its size; false when more is needed and
// there is no room (the reservation is then released).
func (m *blobMemory) settle(client string, h [32]byte, held, n int64) bool {
	m.mu.Lock()
	if len(m.sizes) >= maxBlobSizes {
		clear(m.sizes)
	}
	m.sizes[h] = n
	m.mu.Unlock()
	switch {
	case n < held:
		m.release(client, held-n)
	case n > held && !m.shares.TryTake(client, n-held):
		m.shareRefused.Add(1)
		m.release(client, held)
		return false
	case n > held && !m.budget.TryAcquire(n-held):
		m.shares.Give(client, n-held)
		m.release(client, held)
		return false
	}
	return true
}

// release gives back n bytes client reserved.
func (m *blobMemory) release(client string, n int64) {
	m.budget.Release(n)
	m.shares.Give(client, n)
}

// BlobMemory returns the bytes of blob bodies WithBlobMemory counts now,
// the most it has counted at once, and how many requests it or a
// client's share (WithBlobMemoryPerClient) refused.
func (s *Server) BlobMemory() (held, peak, refused int64) {
	return s.blobMem.budget.Used(), s.blobMem.budget.Peak(), s.blobMem.refused()
}

// refused returns how many requests the budget or a client's share
// refused.
func (m *blobMemory) refused() int64 { return m.budget.Refused() + m.shareRefused.Load() }

// blobMemoryCollectors are the metrics of WithBlobMemory.
func (s *Server) blobMemoryCollectors() []prometheus.Collector {
	m := s.blobMem
	b := m.budget
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "relay", Name: "blob_bytes_held",
			Help: "Bytes of blob bodies the relay holds while serving them (segue relay --blob-memory-mib)."},
			func() float64 { return float64(b.Used()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "relay", Name: "blob_requests_refused_total",
			Help: "Audio requests answered 503 because the blob memory budget, or their client's share of it, had no room within its wait."},
			func() float64 { return float64(m.refused()) }),
	}
}
