package ctxsleep

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSleep: the wait ends after d, at once for d ≤ 0, and with the
// context's error as soon as the context ends.
func TestSleep(t *testing.T) {
	start := time.Now()
	if err := Sleep(t.Context(), 5*time.Millisecond); err != nil || time.Since(start) < 5*time.Millisecond {
		t.Fatalf("Sleep(5ms) = %v after %v", err, time.Since(start))
	}
	if err := Sleep(t.Context(), -time.Second); err != nil {
		t.Fatalf("Sleep(-1s) = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) on an ended context = %v", err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	time.AfterFunc(10*time.Millisecond, cancel)
	start = time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > 10*time.Second {
		t.Fatalf("Sleep(1h) with the context ending = %v after %v", err, time.Since(start))
	}
}
