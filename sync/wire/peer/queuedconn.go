package peer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"time"

	"github.com/segue-fm/segue/internal/sendtime"
)

// ErrConnClosed is returned by a QueuedConn's Write after Close.
var ErrConnClosed = errors.New("peer: connection closed")

// Bounds of a QueuedConn.
const (
	// MaxQueuedBytes bounds the bytes a QueuedConn holds for its
	// flusher: a Write that would pass it waits until the queue drained
	// (a remote that stops reading blocks its writers, as without the
	// queue, instead of growing the relay's memory).
	MaxQueuedBytes = 256 << 10
	// queueCloseWait bounds how long Close waits for queued bytes (a
	// WebSocket close frame among them) to reach the socket.
	queueCloseWait = time.Second
	// maxPooledQueue is the largest queue buffer kept for reuse.
	maxPooledQueue = 64 << 10
	// newQueueBuf is the capacity of a new queue buffer.
	newQueueBuf = 4 << 10
)

// queueBufs recycles queue buffers between flush bursts: an idle
// connection holds none, so ten thousand idle peers cost no buffers. A
// new one has room for a few edit-sized frames, so a burst does not
// grow it append by append.
var queueBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, newQueueBuf)
	return &b
}}

// QueueOptions configure the QueuedConns of NewQueuedConn and
// QueueListener. Start from DefaultQueueOptions; the zero value sets no
// write deadline (a device's own connection to the relay, Dial).
type QueueOptions struct {
	send sendtime.Limit // Rate 0: no write deadline
}

// DefaultQueueOptions returns the defaults: each write of the flusher
// must be done within 30 s + its length at 32 KiB/s.
func DefaultQueueOptions() QueueOptions { return QueueOptions{send: sendtime.Default} }

// WithSlowClient bounds each write system call of the flusher: n bytes
// must be written within grace plus n at minRate bytes a second (the
// write deadline of the connection), else the write fails with an error
// wrapping os.ErrDeadlineExceeded, which every later Write returns: a
// remote that stopped reading, or vanished without a FIN while the
// relay had data for it, fails its session within the bound instead of
// holding its writers, its queued bytes and its connection until TCP
// gives up (minutes, or never for a remote that keeps acknowledging
// with a zero window). A remote reading at minRate or faster is never
// cut. Values ≤ 0 keep the default: 30 s and 32 KiB/s, the relay's
// slow-client rule for HTTP answers.
func (o QueueOptions) WithSlowClient(grace time.Duration, minRate int64) QueueOptions {
	if o.send.Rate <= 0 {
		o.send = sendtime.Default
	}
	if grace > 0 {
		o.send.Grace = grace
	}
	if minRate > 0 {
		o.send.Rate = minRate
	}
	return o
}

// QueuedConn is a net.Conn whose writes, once Queue was called, are
// queued and written by a flusher goroutine that, once the goroutines
// runnable when it starts have run, writes everything queued so far in
// one write system call and stops when the queue is empty (it is
// started again by the next Write). The WebSocket library
// flushes after every message, so a session writing N messages makes N
// system calls; queued, the messages written while the flusher is busy
// go out together. Before Queue, writes go straight to the connection
// (plain HTTP responses keep sendfile through ReadFrom).
//
// A queued Write returns once its bytes are queued; a failed write of
// the flusher closes the connection and is returned by every later
// Write and by Flush. Writes keep their order. Each write of the flusher
// may have a write deadline (QueueOptions.WithSlowClient). Close waits
// up to a second for queued bytes, then closes the connection.
type QueuedConn struct {
	net.Conn
	send sendtime.Limit

	mu      sync.Mutex
	cond    sync.Cond // signalled when the flusher wrote a batch or stopped
	queued  bool      // Queue was called
	buf     *[]byte   // queued bytes, nil when none
	running bool      // a flusher goroutine runs
	err     error     // the flusher's write error, or ErrConnClosed
	closeBy time.Time // set by Close: no flusher write may end later
	writes  int       // write system calls made by flushers (tests)
}

// NewQueuedConn wraps c; writes go straight to c until Queue.
func NewQueuedConn(c net.Conn, opts QueueOptions) *QueuedConn {
	q := &QueuedConn{Conn: c, send: opts.send}
	q.cond.L = &q.mu
	return q
}

// Queue switches c to queued writes (see QueuedConn). It is idempotent.
func (c *QueuedConn) Queue() {
	c.mu.Lock()
	c.queued = true
	c.mu.Unlock()
}

// Write implements net.Conn.
func (c *QueuedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.queued {
		// Held across the write: Queue cannot slip queued bytes ahead
		// of it.
		return c.Conn.Write(p)
	}
	for c.err == nil && c.buf != nil && len(*c.buf) > 0 && len(*c.buf)+len(p) > MaxQueuedBytes {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.buf == nil {
		c.buf = queueBufs.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if !c.running {
		c.running = true
		go c.flush()
	}
	return len(p), nil
}

// flush writes the queue until it is empty. It runs on its own
// goroutine, one at a time per connection. It first yields the
// processor once, so that the goroutines already runnable (other
// sessions' flushers and handlers, on the relay's one core) queue their
// messages for this connection before the write system call instead of
// after it (TestQueuedConnYieldsToWriters): a goroutine just started
// runs before those, so without the yield each writer's message went
// out alone.
func (c *QueuedConn) flush() {
	runtime.Gosched()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.buf != nil && c.err == nil {
		b := c.buf
		c.buf = nil
		c.cond.Broadcast() // writers waiting for room
		if c.send.Rate > 0 && c.closeBy.IsZero() {
			// Under mu: Close's shorter deadline is not overwritten.
			_ = c.Conn.SetWriteDeadline(c.send.Deadline(time.Now(), len(*b)))
		}
		c.mu.Unlock()
		_, err := c.Conn.Write(*b)
		c.mu.Lock()
		c.writes++
		recycle(b)
		if err != nil && c.err == nil {
			c.err = fmt.Errorf("write queued: %w", err)
			// The stream may be cut mid-frame: the connection is
			// closed, so its reader fails too and the session ends.
			_ = c.Conn.Close()
		}
		c.cond.Broadcast()
	}
	if c.buf != nil {
		recycle(c.buf) // dropped after a failed write
		c.buf = nil
	}
	c.running = false
	c.cond.Broadcast()
}

func recycle(b *[]byte) {
	if cap(*b) > maxPooledQueue {
		return
	}
	*b = (*b)[:0]
	queueBufs.Put(b)
}

// Flush waits until every byte queued so far was written, or ctx ends;
// it returns the flusher's write error, if any.
func (c *QueuedConn) Flush(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.running && c.err == nil && ctx.Err() == nil {
		c.cond.Wait()
	}
	if c.err != nil && !errors.Is(c.err, ErrConnClosed) {
		return c.err
	}
	return ctx.Err()
}

// writeErr returns the error a write of the flusher failed with (the
// connection was then closed), nil if none did.
func (c *QueuedConn) writeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failedLocked()
}

// failedLocked returns the flusher's write error: c.err unless that is
// nil or ErrConnClosed (Close's). Caller holds mu.
func (c *QueuedConn) failedLocked() error {
	if c.err == ErrConnClosed {
		return nil
	}
	return c.err
}

// ReadFrom copies from r to the connection (sendfile for a TCP
// connection) when writes are not queued, else through Write.
func (c *QueuedConn) ReadFrom(r io.Reader) (int64, error) {
	c.mu.Lock()
	if rf, ok := c.Conn.(io.ReaderFrom); ok && !c.queued {
		defer c.mu.Unlock()
		return rf.ReadFrom(r)
	}
	c.mu.Unlock()
	return io.Copy(struct{ io.Writer }{c}, r)
}

// Close waits up to a second for the queued bytes, then closes the
// connection; later Writes fail with ErrConnClosed.
func (c *QueuedConn) Close() error {
	c.mu.Lock()
	if c.running {
		c.closeBy = time.Now().Add(queueCloseWait)
		_ = c.Conn.SetWriteDeadline(c.closeBy)
		for c.running {
			c.cond.Wait()
		}
	}
	failed := c.failedLocked()
	if c.err == nil {
		c.err = ErrConnClosed
	}
	c.mu.Unlock()
	if failed != nil {
		return nil // the failed write closed the connection
	}
	return c.Conn.Close()
}

// QueueListener wraps every connection ln accepts in a QueuedConn with
// opts (writing straight through until a session calls Queue, see
// ConnContext).
func QueueListener(ln net.Listener, opts QueueOptions) net.Listener {
	return queueListener{ln, opts}
}

type queueListener struct {
	net.Listener
	opts QueueOptions
}

func (l queueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewQueuedConn(c, l.opts), nil
}

type queuedConnKey struct{}

// ConnContext is an http.Server ConnContext: it records the QueuedConn
// under c (directly, or under TLS) in the connection's context, where
// Session.Run finds it and switches the connection to queued writes.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if t, ok := c.(*tls.Conn); ok {
		c = t.NetConn()
	}
	if q, ok := c.(*QueuedConn); ok {
		return context.WithValue(ctx, queuedConnKey{}, q)
	}
	return ctx
}

// queuedConnFrom returns the QueuedConn recorded by ConnContext, or nil.
func queuedConnFrom(ctx context.Context) *QueuedConn {
	q, _ := ctx.Value(queuedConnKey{}).(*QueuedConn)
	return q
}
