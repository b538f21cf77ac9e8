package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

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
