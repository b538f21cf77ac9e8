package counting

import (
	"fmt"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/relay"
)

// ErrDeviceQuota: a device uploaded more play events than its quota
// (Options.WithDeviceQuota) allows for now (429 with Retry-After).
var ErrDeviceQuota = fmt.Errorf("counting: too many play events from this device: %w", relay.ErrTooManyRequests)

// maxQuotaDevices bounds the devices whose quota state is kept.
const maxQuotaDevices = 1 << 20

// quotas are the devices' upload quotas, a token bucket per device kept
// as its theoretical arrival time (GCRA, exact in integer nanoseconds of
// the monotonic clock, Options.WithMonotonicClock): each event moves it
// on by interval, and an upload that would move it more than tolerance
// past now is refused. nil: no limit.
type quotas struct {
	interval  int64 // ns per event: the quota's period / its events
	tolerance int64 // ns: the bucket's size × interval
	mu        sync.Mutex
	tat       *otter.Cache[model.DeviceID, int64] // ns of the monotonic clock
}

func newQuotas(o Options) *quotas {
	if o.quota <= 0 {
		return nil
	}
	interval := max(o.quotaPer.Nanoseconds()/int64(o.quota), 1)
	size := max(o.quota, o.maxEvents) // a full batch always fits an idle device
	return &quotas{interval: interval, tolerance: int64(size) * interval,
		tat: otter.Must(&otter.Options[model.DeviceID, int64]{MaximumSize: maxQuotaDevices})}
}

// take takes n events from dev's quota at now (a reading of the
// monotonic clock), or returns ErrDeviceQuota with the wait until it
// holds n (as its Retry-After).
func (q *quotas) take(dev model.DeviceID, n int, now time.Duration) error {
	if q == nil {
		return nil
	}
	ns := now.Nanoseconds()
	q.mu.Lock()
	defer q.mu.Unlock()
	tat, _ := q.tat.GetIfPresent(dev)
	next := max(tat, ns) + int64(n)*q.interval
	if wait := next - ns - q.tolerance; wait > 0 {
		d := time.Duration(wait)
		// The message names the wait Retry-After gives: whole seconds,
		// rounded up.
		after, _ := relay.RetryAfter(relay.RetryLater(ErrDeviceQuota, d))
		return relay.RetryLater(fmt.Errorf("%w: %d events, retry in %v", ErrDeviceQuota, n, after), d)
	}
	q.tat.Set(dev, next)
	return nil
}
