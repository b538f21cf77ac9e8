package relaysync

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
)

// Buffer sizes of a served WebSocket connection's reader and writer.
// net/http hands a hijacked connection its own 4 KiB reader and writer,
// which coder/websocket keeps for the connection's life (≈ 80 MB for
// 10,000 idle peers). A frame header is at most 14 bytes and an edit's
// sync message a few hundred; a larger frame is read and written
// straight through once the buffer is empty (bufio's pass-through), so
// small buffers cost a second system call for big frames only.
const (
	connReadBuffer  = 512
	connWriteBuffer = 1024
)

// slimHijacker is the ResponseWriter handed to websocket.Accept: its
// Hijack gives the connection buffers of connReadBuffer and
// connWriteBuffer bytes instead of net/http's. Bytes the client sent
// ahead of the handshake's answer (already in net/http's reader) are
// kept in the new reader's buffer, where coder/websocket looks for them.
// Once the handler returns, net/http's buffers are garbage: the session
// runs on its own goroutine (Endpoint.serve).
type slimHijacker struct {
	http.ResponseWriter
}

// Hijack implements http.Hijacker.
func (s slimHijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("flush handshake: %w", err)
	}
	r := bufio.NewReaderSize(conn, connReadBuffer)
	if n := brw.Reader.Buffered(); n > 0 {
		ahead, _ := brw.Reader.Peek(n)
		r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(bytes.Clone(ahead)), conn), max(n, connReadBuffer))
		if _, err := r.Peek(n); err != nil {
			_ = conn.Close()
			return nil, nil, fmt.Errorf("keep bytes read ahead: %w", err)
		}
	}
	return conn, bufio.NewReadWriter(r, bufio.NewWriterSize(conn, connWriteBuffer)), nil
}
