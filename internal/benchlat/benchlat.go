// Package benchlat records the latency of each operation of a benchmark
// and reports percentiles with testing.B.ReportMetric: wall-clock time,
// and the CPU time of the calling thread, which shows the work an
// operation does apart from waiting for a core on a loaded machine.
//
//	runtime.LockOSThread()
//	defer runtime.UnlockOSThread()
//	rec := benchlat.New(b.N)
//	for range b.N {
//		rec.Start()
//		op()
//		rec.Stop()
//	}
//	rec.Report(b)
package benchlat

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Recorder collects per-operation latencies. It is not safe for
// concurrent use; the goroutine using it should be locked to its OS
// thread (runtime.LockOSThread) so that the CPU time is the operation's.
type Recorder struct {
	wall, cpu []time.Duration
	t0        time.Time
	c0        time.Duration
}

// New returns a recorder with room for n operations.
func New(n int) *Recorder {
	return &Recorder{wall: make([]time.Duration, 0, n), cpu: make([]time.Duration, 0, n)}
}

func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Start marks the beginning of one operation.
func (r *Recorder) Start() {
	r.c0 = threadCPU()
	r.t0 = time.Now()
}

// Stop records the operation begun by the last Start.
func (r *Recorder) Stop() {
	r.wall = append(r.wall, time.Since(r.t0))
	r.cpu = append(r.cpu, threadCPU()-r.c0)
}

// Len returns the number of operations recorded.
func (r *Recorder) Len() int { return len(r.wall) }

// Quantile returns the q-quantile (0 ≤ q ≤ 1, nearest rank) of the wall
// latencies recorded, or 0 when there are none.
func (r *Recorder) Quantile(q float64) time.Duration { return quantile(r.wall, q) }

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(d))
	return s[int(q*float64(len(s)-1))]
}

// Report reports p50-ms, p99-ms and max-ms of the wall latencies and
// cpu-p50-ms and cpu-p99-ms of the thread CPU times, and sets ns/op to 0
// (b.N need not be the number of operations recorded).
func (r *Recorder) Report(b *testing.B) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(quantile(r.wall, 0.5)), "p50-ms")
	b.ReportMetric(ms(quantile(r.wall, 0.99)), "p99-ms")
	b.ReportMetric(ms(quantile(r.wall, 1)), "max-ms")
	b.ReportMetric(ms(quantile(r.cpu, 0.5)), "cpu-p50-ms")
	b.ReportMetric(ms(quantile(r.cpu, 0.99)), "cpu-p99-ms")
	b.ReportMetric(0, "ns/op")
}
