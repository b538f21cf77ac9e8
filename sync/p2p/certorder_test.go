package p2p_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/segue-fm/segue/sync/p2p"
)

// TestListenerRevealsNothingFirst: a host with a key of its own but no
// device certificate (any machine on the network) opens a stream to a
// node and only reads. Before, the node wrote its certificate at once,
// naming its account and device to whoever connected; now the side that
// was dialled writes its certificate only after the dialler's checked,
// and the stream ends with nothing read.
func TestListenerRevealsNothingFirst(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	phone := newDevice(t, "alice", 1, func(o p2p.Options) p2p.Options { return o.WithDialTimeout(time.Second) })
	st := strangerStream(ctx, t, phone)
	defer st.Reset()
	got, _ := io.ReadAll(st) // ends when the node gives up on the handshake
	if len(got) > 0 {
		t.Fatalf("the node wrote %d bytes to a host that showed no certificate", len(got))
	}
}
