package cmem

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"
)

func requireSupported(t *testing.T) {
	t.Helper()
	if !Supported() {
		if os.Getenv("CI") == "true" {
			t.Fatal("glibc ≥ 2.33 (mallinfo2, malloc_trim) required")
		}
		t.Skip("needs glibc ≥ 2.33 (mallinfo2, malloc_trim)")
	}
}

// TestStatsSeeAllocations: Stats counts C allocations in use and, once
// they are freed, as free memory until Trim returns it.
func TestStatsSeeAllocations(t *testing.T) {
	requireSupported(t)
	before := Stats()
	blocks := testAlloc(4096, 256) // 1 MiB in small blocks (below the mmap threshold)
	during := Stats()
	if got := int64(during.InUse) - int64(before.InUse); got < 1<<20 {
		t.Fatalf("in use grew by %d B after allocating 1 MiB", got)
	}
	testFree(blocks)
	after := Stats()
	if got := int64(during.InUse) - int64(after.InUse); got < 1<<20 {
		t.Fatalf("in use fell by %d B after freeing 1 MiB", got)
	}
	if after.Free == 0 {
		t.Fatal("no free memory reported after freeing 1 MiB")
	}
	Trim()
	if trimmed := Stats(); trimmed.Free > after.Free {
		t.Fatalf("free memory grew on trim: %d → %d B", after.Free, trimmed.Free)
	}
}

func TestKeeperDecision(t *testing.T) {
	for _, c := range []struct {
		free, min uint64
		want      bool
	}{
		{0, 32 << 20, false},
		{32 << 20, 32 << 20, false},
		{32<<20 + 1, 32 << 20, true},
		{1 << 30, 32 << 20, true},
	} {
		trims := 0
		o := DefaultKeeperOptions().WithMinFree(c.min).WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
		o.stats = func() Heap { return Heap{InUse: 1 << 20, Free: c.free} }
		o.trim = func() bool { trims++; return true }
		o.check()
		if (trims == 1) != c.want {
			t.Errorf("free %d, min %d: trimmed %d times, want trim %v", c.free, c.min, trims, c.want)
		}
	}
}

// TestKeeperWakes: Wake makes a running keeper check at once, long
// before its next tick, and never blocks, even with no keeper to take
// the request.
func TestKeeperWakes(t *testing.T) {
	requireSupported(t)
	Wake()
	Wake() // one pending at most: does not block
	<-wakes
	trims := make(chan struct{}, 4)
	o := DefaultKeeperOptions().WithInterval(time.Hour).WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	o.stats = func() Heap { return Heap{Free: 1 << 30} }
	o.trim = func() bool { trims <- struct{}{}; return true }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Keep(ctx, o)
	for i := range 2 {
		Wake()
		select {
		case <-trims:
		case <-time.After(10 * time.Second):
			t.Fatalf("wake %d: no check within 10 s (interval one hour)", i)
		}
	}
}
