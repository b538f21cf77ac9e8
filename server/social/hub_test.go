package social

import (
	"fmt"
	"testing"
	"time"
)

// TestHubCoalesces: events sent within one flush period reach a stream's
// handler as one wake-up with all of them in order; beyond the buffer
// the oldest are dropped and counted; with no period each send wakes at
// once.
func TestHubCoalesces(t *testing.T) {
	h := newHub(10, 2, 3, 50*time.Millisecond)
	defer h.close()
	s, done, err := h.subscribe("bob", "d1")
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	for i := range 5 {
		h.send("bob", queued{frame: []byte(fmt.Sprint(i))})
	}
	select {
	case <-s.wake:
		t.Fatal("woken before the flush period")
	default:
	}
	select {
	case <-s.wake:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken after the flush period")
	}
	got := s.take(nil)
	if len(got) != 3 || string(got[0].frame) != "2" || string(got[2].frame) != "4" {
		t.Fatalf("took %d events (%v), want the newest 3 in order", len(got), got)
	}
	if sent, drops := h.sent.Load(), h.drops.Load(); sent != 5 || drops != 2 {
		t.Fatalf("sent %d, dropped %d; want 5 and 2", sent, drops)
	}
	select {
	case <-s.wake:
		t.Fatal("a second wake-up for the same events")
	case <-time.After(120 * time.Millisecond):
	}

	now := newHub(10, 2, 3, 0)
	defer now.close()
	s2, done2, err := now.subscribe("ada", "d2")
	if err != nil {
		t.Fatal(err)
	}
	defer done2()
	now.send("ada", queued{frame: []byte("x")})
	select {
	case <-s2.wake:
	default:
		t.Fatal("no immediate wake-up without a flush period")
	}
	if got := s2.take(nil); len(got) != 1 {
		t.Fatalf("took %d events", len(got))
	}
}
