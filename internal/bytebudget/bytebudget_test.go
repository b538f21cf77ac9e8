package bytebudget

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	ctx := context.Background()
	b := New(10, 0)
	for _, tc := range []struct {
		name    string
		acquire int64
		release int64
		wantErr error
		used    int64
	}{
		{"fits", 6, 0, nil, 6},
		{"no room, no wait", 5, 0, ErrFull, 6},
		{"larger than the budget", 11, 0, ErrFull, 6},
		{"negative", -1, 0, ErrFull, 6},
		{"fits after a release", 5, 2, nil, 9},
	} {
		b.Release(tc.release)
		if err := b.Acquire(ctx, tc.acquire); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
		if b.Used() != tc.used {
			t.Errorf("%s: used %d, want %d", tc.name, b.Used(), tc.used)
		}
	}
	if b.Peak() != 9 || b.Refused() != 3 {
		t.Errorf("peak %d refused %d, want 9 and 3", b.Peak(), b.Refused())
	}
}

// TestBudgetWait: a waiter gets room released within its wait, and its
// own context's end is reported as such, not as ErrFull.
func TestBudgetWait(t *testing.T) {
	b := New(4, time.Minute)
	if err := b.Acquire(context.Background(), 4); err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() { got <- b.Acquire(context.Background(), 3) }()
	b.Release(4)
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Acquire(ctx, 2); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v, want context.Canceled", err)
	}
	if !b.TryAcquire(1) || b.TryAcquire(1) || b.Used() != 4 {
		t.Fatalf("TryAcquire: used %d, want 4 and no room for a fifth byte", b.Used())
	}
}
