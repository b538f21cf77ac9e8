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
	// The budget's own wait is a minute; a caller's shorter one wins.
	if err := b.AcquireWithin(context.Background(), 1, 0); !errors.Is(err, ErrFull) {
		t.Fatalf("AcquireWithin(0) of a full budget: %v, want ErrFull at once", err)
	}
	s := NewShares(1, time.Minute)
	if err := s.Take(context.Background(), "a", 1); err != nil {
		t.Fatal(err)
	}
	if err := s.TakeWithin(context.Background(), "a", 1, time.Millisecond); !errors.Is(err, ErrFull) {
		t.Fatalf("TakeWithin(1ms) of a full share: %v, want ErrFull", err)
	}
}

// TestShares: one key holding its share is refused while another key is
// served, a waiter gets its own key's bytes given back, and a key is
// forgotten once it holds nothing.
func TestShares(t *testing.T) {
	ctx := context.Background()
	s := NewShares(10, 0)
	for _, tc := range []struct {
		name    string
		key     string
		take    int64
		wantErr error
	}{
		{"a fits", "a", 10, nil},
		{"a is full", "a", 1, ErrFull},
		{"b is served", "b", 10, nil},
		{"over a share", "c", 11, ErrFull},
	} {
		if err := s.Take(ctx, tc.key, tc.take); !errors.Is(err, tc.wantErr) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.wantErr)
		}
	}
	if s.TryTake("a", 1) || !s.TryTake("c", 1) {
		t.Fatal("TryTake: a should be full and c have room")
	}
	if s.Held("a") != 10 || s.Held("b") != 10 || s.Held("c") != 1 || s.Keys() != 3 {
		t.Fatalf("held a %d b %d c %d over %d keys, want 10, 10, 1 over 3", s.Held("a"), s.Held("b"), s.Held("c"), s.Keys())
	}
	s.Give("a", 10)
	s.Give("b", 4)
	s.Give("c", 1)
	if s.Keys() != 1 || s.Held("b") != 6 {
		t.Fatalf("after giving back: %d keys, b holds %d; want 1 key holding 6", s.Keys(), s.Held("b"))
	}

	w := NewShares(4, time.Minute)
	if err := w.Take(ctx, "a", 4); err != nil {
		t.Fatal(err)
	}
	got := make(chan error)
	go func() { got <- w.Take(ctx, "a", 3) }()
	w.Give("a", 4)
	if err := <-got; err != nil {
		t.Fatalf("waiter: %v", err)
	}
	if w.Held("a") != 3 || w.Keys() != 1 {
		t.Fatalf("waiter holds %d over %d keys, want 3 over 1", w.Held("a"), w.Keys())
	}
}
