package peer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/sync/wire"
)

// WSConn adapts a WebSocket to Conn: one binary frame per message.
// Frames larger than MaxFrame (wire.MaxFrameSize when 0) end the
// connection with an error wrapping ErrLimit, detected before the frame
// is fully read. Allow, when set, is consulted before each received
// message and returns an error wrapping ErrLimit to refuse it (rate
// limiting). Send is safe for concurrent use.
type WSConn struct {
	C        *websocket.Conn
	MaxFrame int
	Allow    func() error

	wmu sync.Mutex
	// bmu guards bound and writing: Send decides under it whether to
	// hand the library the bound context's stand-in, so release sees
	// every write that did.
	bmu sync.Mutex
	// bound is the context of Bind, nil when none is bound.
	bound context.Context
	// writing counts the writes in progress that the library was
	// handed context.Background() for instead of bound.
	writing int
	// lr bounds the frame Recv reads (kept here: Recv runs one at a
	// time, and a new one per message was an allocation).
	lr io.LimitedReader
}

// Bind ties the connection to ctx for reading and writing: once ctx
// ends the WebSocket is closed at once, as coder/websocket closes it
// when the context of a read or write in progress ends, and Recv and
// Send calls made with ctx itself hand the library a context that never
// ends, which spares it registering and removing a cancellation callback
// on every message each way (≈ 3 % of a busy relay's CPU for the reads,
// ≈ 2 % for the writes). release undoes the binding and reports whether
// ctx had not ended yet, so the connection is still open; call it before
// cancelling ctx to keep the connection for a close handshake. A write
// that was handed the stand-in and is still in progress at release (a
// flusher stuck behind a remote that stopped reading) keeps its tie: the
// connection is closed when ctx ends while it lasts, as the library
// would. A ctx of a type that cannot be compared is not bound (release
// is then a no-op returning true). Bind and release must not run
// concurrently with Recv; Send may run at any time.
func (w *WSConn) Bind(ctx context.Context) (release func() bool) {
	if ctx.Done() == nil || !reflect.TypeOf(ctx).Comparable() {
		return func() bool { return true }
	}
	stop := context.AfterFunc(ctx, func() { _ = w.C.CloseNow() })
	w.bmu.Lock()
	w.bound = ctx
	w.bmu.Unlock()
	return func() bool {
		w.bmu.Lock()
		w.bound = nil
		stuck := w.writing > 0
		w.bmu.Unlock()
		open := stop()
		if open && stuck {
			context.AfterFunc(ctx, func() {
				w.bmu.Lock()
				still := w.writing > 0
				w.bmu.Unlock()
				if still {
					_ = w.C.CloseNow()
				}
			})
		}
		return open
	}
}

// writeCtx returns the context to hand the library for a write with
// ctx: the stand-in when ctx is bound (counted in writing until wrote;
// bound reports it), else ctx itself.
func (w *WSConn) writeCtx(ctx context.Context) (wctx context.Context, bound bool) {
	w.bmu.Lock()
	defer w.bmu.Unlock()
	if w.bound == nil || ctx != w.bound {
		return ctx, false
	}
	w.writing++
	return context.Background(), true
}

// wrote ends a write writeCtx counted.
func (w *WSConn) wrote() {
	w.bmu.Lock()
	w.writing--
	w.bmu.Unlock()
}

// frameBufs recycles the buffers a WSConn reads frames into and encodes
// messages into: a buffer is held only during one Recv or Send, so an
// idle connection holds none.
var frameBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledFrame is the largest frame buffer kept for reuse (a first
// sync's frames can reach MaxFrame; they are not kept).
const maxPooledFrame = 64 << 10

func getFrameBuf() *bytes.Buffer {
	b := frameBufs.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putFrameBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooledFrame {
		frameBufs.Put(b)
	}
}

// NewWSConn returns a WSConn over c with the given frame cap and sets
// c's own read limit just above it.
func NewWSConn(c *websocket.Conn, maxFrame int) *WSConn {
	if maxFrame <= 0 {
		maxFrame = wire.MaxFrameSize
	}
	c.SetReadLimit(int64(maxFrame) + 1)
	return &WSConn{C: c, MaxFrame: maxFrame}
}

// Recv reads and decodes the next binary frame. The frame is read into
// a pooled buffer that the next Recv or Send (of any WSConn) may reuse;
// the returned message does not alias it (wire.Decode copies), so the
// message and its Data are the caller's to keep (the repository keeps
// change chunks of Data).
func (w *WSConn) Recv(ctx context.Context) (*wire.Message, error) {
	rctx := ctx
	if w.bound != nil && ctx == w.bound {
		// Bind closes the connection when ctx ends.
		rctx = context.Background()
	}
	typ, r, err := w.C.Reader(rctx)
	if err != nil {
		return nil, fmt.Errorf("read websocket: %w", err)
	}
	buf := getFrameBuf()
	defer putFrameBuf(buf)
	w.lr = io.LimitedReader{R: r, N: int64(w.MaxFrame) + 1}
	_, err = buf.ReadFrom(&w.lr)
	w.lr.R = nil
	b := buf.Bytes()
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Code == websocket.StatusMessageTooBig || len(b) > w.MaxFrame {
			return nil, fmt.Errorf("%w: frame larger than %d bytes", ErrLimit, w.MaxFrame)
		}
		return nil, fmt.Errorf("read websocket frame: %w", err)
	}
	if len(b) > w.MaxFrame {
		return nil, fmt.Errorf("%w: frame larger than %d bytes", ErrLimit, w.MaxFrame)
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: text frame", ErrProtocol)
	}
	if w.Allow != nil {
		if err := w.Allow(); err != nil {
			return nil, err
		}
	}
	return wire.Decode(b, w.MaxFrame)
}

// Send encodes m into a pooled buffer and writes it as one binary frame;
// m is not retained.
func (w *WSConn) Send(ctx context.Context, m *wire.Message) error {
	buf := getFrameBuf()
	defer putFrameBuf(buf)
	if err := wire.EncodeTo(buf, m); err != nil {
		return err
	}
	return w.write(ctx, buf.Bytes())
}

// SendEncoded writes b, a message already encoded with wire.Encode, as
// one binary frame. It lets a sender that delivers one message to many
// connections (the relay's friend activity) encode it once. b is not
// retained.
func (w *WSConn) SendEncoded(ctx context.Context, b []byte) error {
	return w.write(ctx, b)
}

// write writes b as one binary frame with ctx (the bound context's
// stand-in when ctx is bound).
func (w *WSConn) write(ctx context.Context, b []byte) error {
	wctx, bound := w.writeCtx(ctx)
	if bound {
		defer w.wrote()
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.C.Write(wctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("write websocket: %w", err)
	}
	return nil
}
