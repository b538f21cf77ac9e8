package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// TestBlobWaitOneDeadline: a blob request waits at most --blob-wait in
// all. Its client's share is full until most of the wait has passed,
// then the budget stays full: the request is refused once the wait is
// over. Before, the budget's own wait started only after the share's,
// and the request was refused after about 1.8 × the wait.
func TestBlobWaitOneDeadline(t *testing.T) {
	const wait = time.Second
	m := newBlobMemory(DefaultOptions("").WithBlobMemory(model.MaxBlobSize, wait))
	const client = "user:ada"
	if !m.shares.TryTake(client, m.shares.Max()) {
		t.Fatal("cannot fill the client's share")
	}
	if !m.budget.TryAcquire(m.budget.Size()) {
		t.Fatal("cannot fill the budget")
	}
	// The client's earlier request gives its share back late in the
	// wait; the other clients keep the whole budget.
	freed := time.AfterFunc(wait*8/10, func() { m.shares.Give(client, m.shares.Max()) })
	defer freed.Stop()
	start := time.Now()
	_, err := m.reserve(context.Background(), client, 1<<20)
	took := time.Since(start)
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("reserve: %v, want ErrBusy", err)
	}
	if d, ok := RetryAfter(err); !ok || d != time.Second {
		t.Errorf("Retry-After %v (%v), want 1s", d, ok)
	}
	if took > wait+wait*4/10 {
		t.Errorf("refused after %v, want about the wait (%v), at most %v", took.Round(time.Millisecond), wait, wait+wait*4/10)
	}
	if took < wait*8/10 {
		t.Errorf("refused after %v, before the client's share was given back", took.Round(time.Millisecond))
	}
	if m.budget.Used() != m.budget.Size() || m.shares.Held(client) != 0 {
		t.Errorf("after the refusal the budget holds %d of %d and the client %d, want the others' %d and 0",
			m.budget.Used(), m.budget.Size(), m.shares.Held(client), m.budget.Size())
	}
}
