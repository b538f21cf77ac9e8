package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/store"
)

// TestExternalGCRacingIngest runs ingests (put blobs, publish) against a
// GC with no grace period looping beside them, on Badger (real
// transaction conflicts) and the memory store: every Publish either
// succeeds with all its blobs still stored after the last GC, or fails
// with ErrMissingBlob; a failed release published again after putting its
// blobs again succeeds once no GC runs beside it (a GC without grace may
// sweep the new blobs before every retry: on the memory store it did 50
// times in a row in about one run in 60, so after 20 refusals the test
// holds the GC back for one attempt, which must succeed).
func TestExternalGCRacingIngest(t *testing.T) {
	for name, meta := range backends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			blobs := blobstore.NewKV(store.NewMemory())
			c := NewWithBlobs(meta, AtRestKey{5}, blobs)
			f := newFixture(5)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			// gate is held by a GC run, or by a publish that must not
			// race one.
			var gate sync.Mutex
			var gcErr error
			gcRuns := 0
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					gate.Lock()
					_, err := c.GCWith(ctx, DefaultGCOptions().WithGrace(0).WithPageSize(3))
					gate.Unlock()
					if err != nil {
						gcErr = err
						return
					}
					gcRuns++
				}
			})
			var published [][32]byte
			refused := 0
			for i := range 12 {
				album := fmt.Sprintf("Race %d", i)
				for attempt := 0; ; attempt++ {
					alone := attempt == 20
					if alone {
						gate.Lock()
					}
					r, hashes := f.release(t, c, album, 1, 2)
					err := c.Publish(ctx, r)
					if alone {
						gate.Unlock()
					}
					if err == nil {
						published = append(published, hashes...)
						break
					}
					if !errors.Is(err, ErrMissingBlob) {
						t.Fatalf("publish %s: %v, want nil or ErrMissingBlob", album, err)
					}
					refused++
					if alone {
						t.Fatalf("publish %s refused with no GC running: %v", album, err)
					}
				}
			}
			close(stop)
			wg.Wait()
			if gcErr != nil {
				t.Fatal(gcErr)
			}
			if _, err := c.GCWith(ctx, DefaultGCOptions().WithGrace(0)); err != nil {
				t.Fatal(err)
			}
			for _, h := range published {
				if ok, err := blobs.Has(ctx, h); err != nil || !ok {
					t.Fatalf("blob %x of a published release is gone (%v)", h, err)
				}
			}
			n := 0
			blobs.List(ctx, func(blobstore.Info) error { n++; return nil })
			if n != len(published) {
				t.Fatalf("%d blobs stored after the final GC, want the %d published", n, len(published))
			}
			left := 0
			meta.Iterate(ctx, []byte(gcPrefix), false, func(_, _ []byte) error { left++; return nil })
			if left != 0 {
				t.Fatalf("%d tombstones left", left)
			}
			t.Logf("%d GC runs, %d publishes refused and retried", gcRuns, refused)
		})
	}
}

// failingDelete is a blob store whose Delete fails after n calls.
type failingDelete struct {
	blobstore.Store
	mu sync.Mutex
	n  int
}

var errInjected = errors.New("injected delete failure")

func (s *failingDelete) Delete(ctx context.Context, h [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return errInjected
	}
	s.n--
	return s.Store.Delete(ctx, h)
}

// TestExternalGCInterrupted: a delete failing mid-page leaves a tombstone
// on that blob only (Publish refuses it until the next GC), unmarks the
// rest, and the next GC finishes the job; a blob younger than the grace
// period is kept until it is old enough, by the GC's clock.
func TestExternalGCInterrupted(t *testing.T) {
	ctx := context.Background()
	meta := store.NewMemory()
	fd := &failingDelete{Store: blobstore.NewKV(store.NewMemory()), n: 2}
	c := NewWithBlobs(meta, AtRestKey{6}, fd)
	f := newFixture(6)
	r, hashes := f.release(t, c, "Orphans", 1, 2) // never published: all orphans
	now := time.Now()
	if n, err := c.GCWith(ctx, DefaultGCOptions().WithClock(func() time.Time { return now })); err != nil || n != 0 {
		t.Fatalf("GC within the grace period: removed %d, %v", n, err)
	}
	later := func() time.Time { return now.Add(2 * time.Hour) }
	n, err := c.GCWith(ctx, DefaultGCOptions().WithClock(later))
	if !errors.Is(err, errInjected) || n != 2 {
		t.Fatalf("GC with a failing delete: removed %d, %v", n, err)
	}
	tomb := 0
	meta.Iterate(ctx, []byte(gcPrefix), false, func(_, _ []byte) error { tomb++; return nil })
	if tomb != 1 {
		t.Fatalf("%d tombstones after a failed delete, want 1 (the failed blob)", tomb)
	}
	if err := c.Publish(ctx, r); !errors.Is(err, ErrMissingBlob) {
		t.Fatalf("publish of collected blobs: %v, want ErrMissingBlob", err)
	}
	fd.n = 1 << 30
	if n, err := c.GCWith(ctx, DefaultGCOptions().WithClock(later)); err != nil || n != len(hashes)-2 {
		t.Fatalf("second GC: removed %d, %v; want %d", n, err, len(hashes)-2)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	f.release(t, c, "More", 3)
	if _, err := c.GCWith(cctx, DefaultGCOptions().WithClock(later)); !errors.Is(err, context.Canceled) {
		t.Fatalf("GC with a cancelled context: %v", err)
	}
	tomb = 0
	meta.Iterate(ctx, []byte(gcPrefix), false, func(_, _ []byte) error { tomb++; return nil })
	if tomb != 0 {
		t.Fatalf("%d tombstones after a cancelled GC", tomb)
	}
}
