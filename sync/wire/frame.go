package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// WriteFrame writes m to w as one stream frame: a 4-byte big-endian
// length followed by the CBOR encoding (the framing of Segue's libp2p
// protocol /segue/sync/3; a WebSocket frame is the CBOR alone).
func WriteFrame(w io.Writer, m *Message) error {
	b, err := Encode(m)
	if err != nil {
		return err
	}
	buf := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	copy(buf[4:], b)
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// ReadFrame reads one length-prefixed frame from r and decodes it. A
// declared length above maxSize (MaxFrameSize when maxSize <= 0) is
// refused with ErrFrameTooLarge before any payload is read or allocated.
// At a clean end of stream it returns io.EOF.
func ReadFrame(r io.Reader, maxSize int) (*Message, error) {
	if maxSize <= 0 {
		maxSize = MaxFrameSize
	}
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	n := binary.BigEndian.Uint32(h[:])
	if uint64(n) > uint64(maxSize) {
		return nil, fmt.Errorf("%w: declared %d bytes, limit %d", ErrFrameTooLarge, n, maxSize)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read frame body: %w", err)
	}
	return Decode(b, maxSize)
}
