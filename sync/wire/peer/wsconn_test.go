package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/sync/wire"
)

// TestRecvMessagesOutliveBuffer: a received message stays intact after
// later messages were read (and sent) through the pooled frame buffers
// it was read from: a message whose Data aliased the buffer would hold
// the later frames' bytes. Sizes cover a pooled buffer and one too large
// to be kept.
func TestRecvMessagesOutliveBuffer(t *testing.T) {
	srv, cl := wsPair(t)
	ctx := context.Background()
	for _, size := range []int{600, 40 << 10, maxPooledFrame + 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			var kept []*wire.Message
			for i := range 4 {
				if err := cl.Send(ctx, editMessage(bytes.Repeat([]byte{byte(i + 1)}, size))); err != nil {
					t.Fatal(err)
				}
				m, err := srv.Recv(ctx)
				if err != nil {
					t.Fatal(err)
				}
				kept = append(kept, m)
				// The relay answers on the same goroutine, through the
				// same pool.
				if err := srv.Send(ctx, editMessage(bytes.Repeat([]byte{0xee}, size))); err != nil {
					t.Fatal(err)
				}
				if _, err := cl.Recv(ctx); err != nil {
					t.Fatal(err)
				}
			}
			for i, m := range kept {
				if want := bytes.Repeat([]byte{byte(i + 1)}, size); !bytes.Equal(m.Data, want) || m.Type != wire.TypeSync || m.SenderID != "device-0123456789" {
					t.Fatalf("message %d changed after later reads: type %q sender %q, data starts %x", i, m.Type, m.SenderID, m.Data[:8])
				}
			}
		})
	}
}

// TestRecvFrameLimit: a frame over MaxFrame is refused with ErrLimit,
// with the pooled buffers as without.
func TestRecvFrameLimit(t *testing.T) {
	srv, cl := wsPair(t)
	srv.MaxFrame = 1000
	srv.C.SetReadLimit(1 << 20)
	ctx := context.Background()
	for _, tc := range []struct {
		size int
		want error
	}{
		{500, nil},
		{2000, ErrLimit},
	} {
		if err := cl.Send(ctx, editMessage(make([]byte, tc.size))); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Recv(ctx); !errors.Is(err, tc.want) {
			t.Fatalf("Recv of %d bytes of data = %v, want %v", tc.size, err, tc.want)
		}
	}
}

// TestBind: reads with the bound context work; ending it closes the
// connection under a read in progress (the library is handed a context
// that never ends, so nothing else would); released before it ends, the
// connection stays open. TestBindWrites has the writes.
func TestBind(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
	}{{"cancel ends a read", false}, {"release keeps the connection", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cl := wsPair(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			release := srv.Bind(ctx)
			if err := cl.Send(ctx, editMessage([]byte("one"))); err != nil {
				t.Fatal(err)
			}
			if m, err := srv.Recv(ctx); err != nil || string(m.Data) != "one" {
				t.Fatalf("Recv with the bound context: %v, %v", m, err)
			}
			if tc.release {
				if !release() {
					t.Fatal("release reported the context ended")
				}
				cancel()
				if err := cl.Send(context.Background(), editMessage([]byte("two"))); err != nil {
					t.Fatal(err)
				}
				if m, err := srv.Recv(context.Background()); err != nil || string(m.Data) != "two" {
					t.Fatalf("Recv after release and cancel: %v, %v", m, err)
				}
				return
			}
			done := make(chan error, 1)
			go func() {
				_, err := srv.Recv(ctx)
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("Recv returned a message after its context ended")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Recv still blocked 5 s after the bound context ended")
			}
			if release() {
				t.Fatal("release after the context ended reported it had not")
			}
		})
	}
}

// TestBindWrites: a write with the bound context stuck behind a remote
// that stopped reading ends once the context ends — bound throughout, or
// released while stuck (Session.Run releases before it cancels, with
// its flushers still writing) — and a binding released with no write in
// progress leaves the connection open through the cancel. Writes with
// the bound context allocate less than with the same context unbound:
// the library registers no cancellation callback for them.
func TestBindWrites(t *testing.T) {
	for _, tc := range []struct {
		name           string
		releaseOnStuck bool
	}{{"cancel ends a stuck write", false}, {"released while stuck, cancel still ends it", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := wsPair(t) // the client never reads
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			release := srv.Bind(ctx)
			var sent atomic.Int64
			done := make(chan error, 1)
			big := editMessage(bytes.Repeat([]byte{7}, 64<<10))
			go func() {
				for {
					if err := srv.Send(ctx, big); err != nil {
						done <- err
						return
					}
					sent.Add(1)
				}
			}()
			waitStuck(t, &sent, done)
			if tc.releaseOnStuck && !release() {
				t.Fatal("release reported the context ended")
			}
			cancel()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("stuck Send returned no error")
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Send still stuck 5 s after the bound context ended")
			}
		})
	}
	t.Run("released idle, the connection survives the cancel", func(t *testing.T) {
		srv, cl := wsPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		if err := srv.Send(ctx, editMessage([]byte("one"))); err != nil {
			t.Fatal(err)
		}
		release := srv.Bind(ctx)
		if err := srv.Send(ctx, editMessage([]byte("two"))); err != nil {
			t.Fatal(err)
		}
		if !release() {
			t.Fatal("release reported the context ended")
		}
		cancel()
		if err := srv.Send(context.Background(), editMessage([]byte("three"))); err != nil {
			t.Fatalf("Send after release and cancel: %v", err)
		}
		for _, want := range []string{"one", "two", "three"} {
			if m, err := cl.Recv(context.Background()); err != nil || string(m.Data) != want {
				t.Fatalf("Recv = %v, %v; want %q", m, err, want)
			}
		}
	})
	t.Run("bound writes allocate less", func(t *testing.T) {
		srv, cl := wsPair(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		m := editMessage(bytes.Repeat([]byte{3}, 600))
		sendRecv := func() {
			if err := srv.Send(ctx, m); err != nil {
				t.Fatal(err)
			}
			if _, err := cl.Recv(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		unbound := testing.AllocsPerRun(200, sendRecv)
		release := srv.Bind(ctx)
		bound := testing.AllocsPerRun(200, sendRecv)
		release()
		if bound >= unbound {
			t.Fatalf("a bound write costs %.1f allocations with its read, unbound %.1f: want fewer", bound, unbound)
		}
	})
}

// waitStuck waits until the sender counting in sent has made no progress
// for 300 ms (its write blocked: the socket's buffers are full), failing
// if the sender ended or nothing blocked within 20 s.
func waitStuck(t *testing.T, sent *atomic.Int64, done <-chan error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last, since := sent.Load(), time.Now()
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("sender ended before it blocked: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if n := sent.Load(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return
		}
	}
	t.Fatal("the sender never blocked")
}
