package relayrecs_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/recs/relayrecs"
)

// TestScheduledRunsArePaced: a scheduled run (Run) waits after each
// listener (1 − share) / share times as long as its deliveries took on
// the service's clock — here the first listener's, whose run trained the
// model (40 ms of simulated work: 120 ms of wait at a quarter); the
// listeners after it took no clock time and wait nothing. An operator's
// RunDue never waits. A run waiting when its context ends returns at
// once with the context's error.
func TestScheduledRunsArePaced(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	record := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return nil
	}
	paced := func(o relayrecs.Options) relayrecs.Options {
		return o.WithPacing(0.25).WithSleep(record).WithTick(time.Hour)
	}
	users := []string{"alice", "bob", "carol"}

	t.Run("RunDue", func(t *testing.T) {
		waits = nil
		f := newFixtureWith(t, paced, "alice", "bob", "carol")
		*f.readCost = 40 * time.Millisecond
		res, err := f.svc.RunDue(t.Context())
		if err != nil || res.Delivered != 9 || res.Paced != 0 || len(waits) != 0 {
			t.Fatalf("RunDue = %+v, %v, waits %v; want 9 delivered, no waits", res, err, waits)
		}
	})

	t.Run("Run", func(t *testing.T) {
		waits = nil
		f := newFixtureWith(t, paced, "alice", "bob", "carol")
		*f.readCost = 40 * time.Millisecond
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- f.svc.Run(ctx) }()
		// The last listener's playlists exist once the run has passed
		// every listener before it.
		deadline := time.Now().Add(30 * time.Second)
		for {
			ps, err := f.svc.Playlists(t.Context(), "carol")
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the scheduled run delivered nothing to carol in 30 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(waits) != 1 || waits[0] != 120*time.Millisecond {
			t.Fatalf("waits %v over %v; want one of 120ms (40 ms of work at a quarter share)", waits, users)
		}
	})

	t.Run("cancelled while waiting", func(t *testing.T) {
		block := func(ctx context.Context, d time.Duration) error {
			<-ctx.Done()
			return ctx.Err()
		}
		f := newFixtureWith(t, func(o relayrecs.Options) relayrecs.Options {
			return o.WithPacing(0.25).WithSleep(block).WithTick(time.Hour)
		}, "alice", "bob")
		*f.readCost = 40 * time.Millisecond
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		if err := f.svc.Run(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Run = %v, want the context's deadline", err)
		}
		if el := time.Since(start); el > 20*time.Second {
			t.Fatalf("Run returned %v after its context ended", el)
		}
		if ps, err := f.svc.Playlists(t.Context(), "bob"); err != nil || len(ps) != 0 {
			t.Fatalf("bob's playlists %v, %v: the run went on past a wait whose context ended", ps, err)
		}
	})
}

// TestOperatorRunDuringPacedWait: while a scheduled run waits between
// listeners, an operator's RunDue is not held back behind it: it
// delivers to the listeners the scheduled run has not reached, and the
// scheduled run, resumed, finds them done.
func TestOperatorRunDuringPacedWait(t *testing.T) {
	waiting, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hold := func(ctx context.Context, d time.Duration) error {
		once.Do(func() {
			close(waiting)
			select {
			case <-resume:
			case <-ctx.Done():
			}
		})
		return ctx.Err()
	}
	f := newFixtureWith(t, func(o relayrecs.Options) relayrecs.Options {
		return o.WithPacing(0.25).WithSleep(hold).WithTick(time.Hour)
	}, "alice", "bob", "carol")
	*f.readCost = 40 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	select {
	case <-waiting:
	case <-time.After(30 * time.Second):
		t.Fatal("the scheduled run never waited")
	}
	ran := make(chan relayrecs.Result, 1)
	go func() {
		res, err := f.svc.RunDue(t.Context())
		if err != nil {
			t.Error(err)
		}
		ran <- res
	}()
	select {
	case res := <-ran:
		if res.Delivered != 6 || res.Skipped != 3 {
			t.Fatalf("operator's run during the wait = %+v; want bob's and carol's 6 delivered, alice's 3 skipped", res)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the operator's run waited behind the paced scheduled run")
	}
	bob, _, _ := f.playlist(t, "bob", relayrecs.KindDiscoverWeekly)
	close(resume)
	time.Sleep(50 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if again, _, _ := f.playlist(t, "bob", relayrecs.KindDiscoverWeekly); again != bob {
		t.Fatalf("bob's Discover Weekly moved from %s to %s after the resumed run", bob, again)
	}
}
