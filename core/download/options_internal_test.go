package download

import "testing"

// TestWithWorkersBounds: the worker count is clamped to 1…MaxWorkers (a
// huge count made that many goroutines and queue slots at once and ran
// out of memory).
func TestWithWorkersBounds(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-1, 1}, {0, 1}, {1, 1}, {4, 4}, {MaxWorkers, MaxWorkers}, {MaxWorkers + 1, MaxWorkers}, {1 << 40, MaxWorkers},
	} {
		if got := DefaultOptions().WithWorkers(tc.in).workers; got != tc.want {
			t.Errorf("WithWorkers(%d) = %d workers, want %d", tc.in, got, tc.want)
		}
	}
}
