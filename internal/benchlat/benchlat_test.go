package benchlat

import (
	"runtime"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, 1}, {0.5, 50}, {0.99, 99}, {1, 100}} {
		if got := quantile(d, c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if quantile(nil, 0.5) != 0 {
		t.Error("quantile of nothing is not 0")
	}
	// The Recorder reads the calling thread's CPU clock: a goroutine that
	// moved to another thread between Start and Stop read another
	// thread's (a negative time once in CI).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := New(1)
	r.Start()
	deadline := time.Now().Add(2 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	r.Stop()
	if r.Len() != 1 || r.Quantile(1) < 2*time.Millisecond || r.cpu[0] <= 0 {
		t.Fatalf("recorded wall %v cpu %v", r.wall, r.cpu)
	}
}
