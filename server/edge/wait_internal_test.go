package edge

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestInFlightWaitOneDeadline: a miss waits at most the in-flight wait in
// all. Its client's share is full until most of the wait has passed, then
// the budget stays full: the miss is refused once the wait is over.
// Before, the budget's own wait started only after the share's, and the
// miss was refused after about 1.8 × the wait.
func TestInFlightWaitOneDeadline(t *testing.T) {
	const size, wait = 1 << 20, time.Second
	e, err := New(DefaultOptions("http://127.0.0.1:1").WithMaxBlobSize(size).WithInFlightBytes(2*size, wait).WithInFlightPerClient(size))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const client = "192.0.2.1"
	if !e.shares.TryTake(client, size) || !e.inFlight.TryAcquire(2*size) {
		t.Fatal("cannot fill the client's share and the budget")
	}
	// The client's earlier miss gives its share back late in the wait;
	// the other clients keep the whole budget.
	freed := time.AfterFunc(wait*8/10, func() { e.shares.Give(client, size) })
	defer freed.Stop()
	start := time.Now()
	err = e.reserve(context.Background(), client, size)
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("reserve: %v, want ErrBusy", err)
	}
	if took > wait+wait*4/10 || took < wait*8/10 {
		t.Errorf("refused after %v, want about the wait (%v): after the share came back at %v and at most %v", took.Round(time.Millisecond), wait, wait*8/10, wait+wait*4/10)
	}
	if e.shares.Held(client) != 0 || e.inFlight.Used() != 2*size {
		t.Errorf("after the refusal the client holds %d and the budget %d, want 0 and the others' %d", e.shares.Held(client), e.inFlight.Used(), 2*size)
	}
}
