package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// TestBindRecv: reads with the bound context work; ending it closes the
// connection under a read in progress (the library is handed a context
// that never ends, so nothing else would); released before it ends, the
// connection stays open.
func TestBindRecv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
	}{{"cancel ends a read", false}, {"release keeps the connection", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cl := wsPair(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			release := srv.BindRecv(ctx)
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
