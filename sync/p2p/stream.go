package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/wire"
)

// streamConn adapts a libp2p stream to peer.Conn with Segue's framing:
// 4-byte big-endian length + automerge-repo CBOR, capped at max bytes.
type streamConn struct {
	s   network.Stream
	r   *bufio.Reader
	max int

	wmu sync.Mutex
}

func newStreamConn(s network.Stream, max int) *streamConn {
	return &streamConn{s: s, r: bufio.NewReader(s), max: max}
}

// Recv implements peer.Conn. Cancelling ctx does not interrupt a read;
// the Node resets the stream when the session ends.
func (c *streamConn) Recv(ctx context.Context) (*wire.Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return wire.ReadFrame(c.r, c.max)
}

// Send implements peer.Conn; a write is bounded by ctx's deadline or 30 s.
func (c *streamConn) Send(ctx context.Context, m *wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(30 * time.Second)
	}
	_ = c.s.SetWriteDeadline(dl)
	return wire.WriteFrame(c.s, m)
}

// writeBlob writes one length-prefixed byte string (the certificate).
func (c *streamConn) writeBlob(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	if _, err := c.s.Write(buf); err != nil {
		return fmt.Errorf("write certificate: %w", err)
	}
	return nil
}

// writeRaw writes b as it is (the LAN key proofs).
func (c *streamConn) writeRaw(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.s.Write(b); err != nil {
		return fmt.Errorf("p2p: write key proof: %w", err)
	}
	return nil
}

// readBlob reads one length-prefixed byte string of at most max bytes.
func (c *streamConn) readBlob(max int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	n := binary.BigEndian.Uint32(h[:])
	if uint64(n) > uint64(max) {
		return nil, fmt.Errorf("%w: certificate of %d bytes, limit %d", crypto.ErrBadDeviceCert, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, fmt.Errorf("read certificate: %w", err)
	}
	return b, nil
}
