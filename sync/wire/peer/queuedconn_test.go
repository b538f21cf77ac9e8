package peer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// gateConn is a net.Conn whose writes block until the gate opens (or
// fail with failErr); it records each write.
type gateConn struct {
	net.Conn
	gate    chan struct{}
	failErr error

	mu     sync.Mutex
	writes [][]byte
	closed bool
}

func (g *gateConn) Write(p []byte) (int, error) {
	<-g.gate
	if g.failErr != nil {
		return 0, g.failErr
	}
	g.mu.Lock()
	g.writes = append(g.writes, bytes.Clone(p))
	g.mu.Unlock()
	return len(p), nil
}

func (g *gateConn) SetWriteDeadline(time.Time) error { return nil }

func (g *gateConn) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	return nil
}

func (g *gateConn) joined() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return bytes.Join(g.writes, nil)
}

// TestQueuedConn: queued writes keep their order and those made while a
// write is in progress go out together in one; before Queue writes go
// straight through; the queue is bounded (a writer past MaxQueuedBytes
// waits for the flusher); a failed write is returned by later writes and
// Flush; Close sends what is queued first.
func TestQueuedConn(t *testing.T) {
	msg := func(i, n int) []byte { return bytes.Repeat([]byte{byte('a' + i)}, n) }
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"straight through before Queue", func(t *testing.T) {
			g := &gateConn{gate: make(chan struct{})}
			close(g.gate)
			c := NewQueuedConn(g, DefaultQueueOptions())
			for i := range 3 {
				if _, err := c.Write(msg(i, 10)); err != nil {
					t.Fatal(err)
				}
			}
			if len(g.writes) != 3 || c.writes != 0 {
				t.Fatalf("%d writes, %d by a flusher; want 3 direct", len(g.writes), c.writes)
			}
		}},
		{"writes during a write go out together, in order", func(t *testing.T) {
			g := &gateConn{gate: make(chan struct{})}
			c := NewQueuedConn(g, DefaultQueueOptions())
			c.Queue()
			var want []byte
			for i := range 10 {
				m := msg(i, 100+i)
				want = append(want, m...)
				if _, err := c.Write(m); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					synctest.Wait() // the flusher holds the first message
				}
			}
			close(g.gate)
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := g.joined(); !bytes.Equal(got, want) {
				t.Fatalf("wrote %d bytes, want %d in order", len(got), len(want))
			}
			if len(g.writes) != 2 {
				t.Fatalf("%d writes, want 2 (the first, then the nine queued meanwhile)", len(g.writes))
			}
		}},
		{"bounded", func(t *testing.T) {
			g := &gateConn{gate: make(chan struct{})}
			c := NewQueuedConn(g, DefaultQueueOptions())
			c.Queue()
			chunk := MaxQueuedBytes / 2
			if _, err := c.Write(msg(0, chunk)); err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // the flusher holds chunk 0
			done := make(chan int, 3)
			go func() {
				for i := 1; i < 4; i++ {
					if _, err := c.Write(msg(i, chunk)); err != nil {
						break
					}
					done <- i
				}
				close(done)
			}()
			synctest.Wait()
			// Chunks 1 and 2 fill the queue, the third waits.
			if got := len(done); got != 2 {
				t.Fatalf("%d more writes returned while the socket was blocked, want 2", got)
			}
			c.mu.Lock()
			queued := len(*c.buf)
			c.mu.Unlock()
			if queued > MaxQueuedBytes {
				t.Fatalf("%d bytes queued, bound %d", queued, MaxQueuedBytes)
			}
			close(g.gate)
			for range done {
			}
			if err := c.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(g.joined()); n != 4*chunk {
				t.Fatalf("wrote %d bytes, want %d", n, 4*chunk)
			}
		}},
		{"a failed write is returned later", func(t *testing.T) {
			boom := errors.New("boom")
			g := &gateConn{gate: make(chan struct{}), failErr: boom}
			close(g.gate)
			c := NewQueuedConn(g, DefaultQueueOptions())
			c.Queue()
			if _, err := c.Write(msg(0, 10)); err != nil {
				t.Fatal(err)
			}
			if err := c.Flush(context.Background()); !errors.Is(err, boom) {
				t.Fatalf("Flush: %v, want %v", err, boom)
			}
			if _, err := c.Write(msg(1, 10)); !errors.Is(err, boom) {
				t.Fatalf("Write after failure: %v, want %v", err, boom)
			}
		}},
		{"close sends the queue first", func(t *testing.T) {
			g := &gateConn{gate: make(chan struct{})}
			c := NewQueuedConn(g, DefaultQueueOptions())
			c.Queue()
			for i := range 3 {
				if _, err := c.Write(msg(i, 10)); err != nil {
					t.Fatal(err)
				}
			}
			closed := make(chan error, 1)
			go func() { closed <- c.Close() }()
			synctest.Wait()
			if g.closed {
				t.Fatal("closed before the queue was written")
			}
			close(g.gate)
			if err := <-closed; err != nil {
				t.Fatal(err)
			}
			if n := len(g.joined()); n != 30 || !g.closed {
				t.Fatalf("wrote %d bytes (closed %v), want 30 then closed", n, g.closed)
			}
			if _, err := c.Write(msg(0, 1)); !errors.Is(err, ErrConnClosed) {
				t.Fatalf("Write after Close: %v, want ErrConnClosed", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { synctest.Test(t, tc.run) })
	}
}

// TestConnContextFindsQueuedConn: ConnContext records a QueuedConn (not
// any other connection) for Session.Run.
func TestConnContextFindsQueuedConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	q := NewQueuedConn(a, DefaultQueueOptions())
	if got := queuedConnFrom(ConnContext(context.Background(), q)); got != q {
		t.Fatalf("found %v, want the QueuedConn", got)
	}
	if got := queuedConnFrom(ConnContext(context.Background(), b)); got != nil {
		t.Fatalf("found %v for a plain connection", got)
	}
}

// TestQueuedConnYieldsToWriters: on one processor, the messages that
// goroutines already runnable when the flusher starts queue go out with
// the flusher's write (it yields once before writing), not in one write
// each: the relay runs on one core, where the sessions and flushers
// writing to one connection are such goroutines. Without the yield,
// each writer's message went out alone (32 writes): the newest
// goroutine runs first, so each flusher started ran before the next
// writer. With it, one write as a rule; the bound allows for the
// scheduler's periodic turn to its global queue (every 61st schedule)
// and other goroutines of the test binary, which can run the yielded
// flusher before the last writers.
func TestQueuedConnYieldsToWriters(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector randomises the order of runnable goroutines")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	g := &gateConn{gate: make(chan struct{})}
	close(g.gate)
	c := NewQueuedConn(g, DefaultQueueOptions())
	c.Queue()
	const writers, maxWrites = 32, 4
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			if _, err := c.Write(bytes.Repeat([]byte{byte('a' + i)}, 10)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := g.joined()
	for i := range writers {
		if n := bytes.Count(got, []byte{byte('a' + i)}); n != 10 {
			t.Fatalf("writer %d: %d of its 10 bytes written", i, n)
		}
	}
	if len(g.writes) > maxWrites {
		t.Fatalf("%d writes for %d writers' messages, want at most %d", len(g.writes), writers, maxWrites)
	}
}

// TestQueuedConnWriteDeadline: a flusher write that the remote does not
// read within the slow-client bound (50 ms + n at 1 MiB/s) fails with
// an error wrapping os.ErrDeadlineExceeded, which the next Write returns
// and Flush reports, and the connection is closed, so its reader fails
// too; a remote that reads gets every byte.
func TestQueuedConnWriteDeadline(t *testing.T) {
	opts := DefaultQueueOptions().WithSlowClient(50*time.Millisecond, 1<<20)
	for _, reads := range []bool{false, true} {
		a, b := net.Pipe() // synchronous: a write waits for the read
		q := NewQueuedConn(a, opts)
		q.Queue()
		got := make(chan int, 1)
		if reads {
			go func() {
				n, _ := io.Copy(io.Discard, b)
				got <- int(n)
			}()
		}
		if _, err := q.Write(make([]byte, 4096)); err != nil {
			t.Fatal(err)
		}
		err := q.Flush(t.Context())
		if reads {
			if err != nil {
				t.Fatalf("reading remote: Flush: %v", err)
			}
			q.Close()
			if n := <-got; n != 4096 {
				t.Fatalf("reading remote got %d bytes, want 4096", n)
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("remote that does not read: Flush: %v, want a deadline error", err)
		}
		if _, err := q.Write([]byte{1}); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Write after the failed flush: %v, want the deadline error", err)
		}
		if _, err := a.Read(make([]byte, 1)); !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("read after the failed flush: %v, want the connection closed", err)
		}
		q.Close()
		b.Close()
	}
}
