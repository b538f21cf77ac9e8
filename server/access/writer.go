package access

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Writer records accesses. Implementations are safe for concurrent use.
type Writer interface {
	// Write queues r without blocking on I/O. It returns ErrFull (the
	// record dropped and counted) when MaxPending records are queued,
	// ErrBadRecord when r does not encode, ErrClosed after Close.
	Write(r Record) error
	// Flush returns once every record queued before the call is written
	// durably, or with the error that prevented it.
	Flush(ctx context.Context) error
	// Stats returns the writer's counters.
	Stats() Stats
	// Close flushes what is queued, stops the flusher and releases the
	// backend. It is safe to call more than once.
	Close() error
}

// Stats are a Writer's counters since it was opened.
type Stats struct {
	Written uint64 // records written durably
	Dropped uint64 // records refused with ErrFull
	Failed  uint64 // failed batch writes (retried)
}

// Options configures a Writer. Start from DefaultOptions.
type Options struct {
	maxBatch      int
	maxPending    int
	flushInterval time.Duration
	retryWait     time.Duration
	logger        *slog.Logger
}

// DefaultOptions: batches of up to 4,096 records, written at least every
// 200 ms, at most 65,536 records queued (about 10 MiB), a failed batch
// retried after 1 s, slog.Default().
func DefaultOptions() Options {
	return Options{maxBatch: 4096, maxPending: 65536, flushInterval: 200 * time.Millisecond,
		retryWait: time.Second, logger: slog.Default()}
}

// WithMaxBatch sets the most records written in one batch (default
// 4,096; values below 1 keep the current one).
func (o Options) WithMaxBatch(n int) Options {
	if n > 0 {
		o.maxBatch = n
	}
	return o
}

// WithMaxPending sets the queue bound past which Write drops records
// (default 65,536; values below 1 keep the current one).
func (o Options) WithMaxPending(n int) Options {
	if n > 0 {
		o.maxPending = n
	}
	return o
}

// WithFlushInterval sets the longest a record waits in the queue before
// its batch is written (default 200 ms; non-positive keeps the current
// one).
func (o Options) WithFlushInterval(d time.Duration) Options {
	if d > 0 {
		o.flushInterval = d
	}
	return o
}

// WithLogger sets the logger for failed batch writes (default
// slog.Default(); nil discards).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// sink writes one batch of encoded records durably.
type sink interface {
	writeBatch(ctx context.Context, recs []Record, enc [][]byte) error
	close() error
}

// batcher is the Writer both backends share: a bounded queue and one
// flusher goroutine that hands batches to the sink.
type batcher struct {
	opts Options
	sink sink

	mu      sync.Mutex
	queue   []Record
	queued  uint64        // records ever accepted
	written uint64        // records ever written (or abandoned at Close)
	lastErr error         // last batch failure, cleared by a success
	done    chan struct{} // closed and replaced after every batch attempt
	closed  bool

	kick     chan struct{}
	stop     chan struct{}
	stopped  chan struct{}
	once     sync.Once
	closeErr error

	dropped atomic.Uint64
	failed  atomic.Uint64
}

func newBatcher(s sink, opts Options) *batcher {
	b := &batcher{opts: opts, sink: s, done: make(chan struct{}),
		kick: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	go b.run()
	return b
}

func (b *batcher) Write(r Record) error {
	if _, err := r.AppendBinary(nil); err != nil {
		return err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if len(b.queue) >= b.opts.maxPending {
		b.mu.Unlock()
		b.dropped.Add(1)
		return ErrFull
	}
	b.queue = append(b.queue, r)
	b.queued++
	full := len(b.queue) >= b.opts.maxBatch
	b.mu.Unlock()
	if full {
		b.signal()
	}
	return nil
}

func (b *batcher) signal() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *batcher) Flush(ctx context.Context) error {
	b.mu.Lock()
	target := b.queued
	b.mu.Unlock()
	for {
		b.mu.Lock()
		written, err, done := b.written, b.lastErr, b.done
		b.mu.Unlock()
		if written >= target {
			return nil
		}
		b.signal()
		select {
		case <-done:
			b.mu.Lock()
			failed := b.written < target && b.lastErr != nil
			err = b.lastErr
			b.mu.Unlock()
			if failed {
				return err
			}
		case <-ctx.Done():
			if err != nil {
				return err
			}
			return ctx.Err()
		}
	}
}

func (b *batcher) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Written: b.written, Dropped: b.dropped.Load(), Failed: b.failed.Load()}
}

func (b *batcher) Close() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.mu.Unlock()
		close(b.stop)
		<-b.stopped
		b.closeErr = b.sink.close()
	})
	return b.closeErr
}

// run is the flusher: it writes a batch when maxBatch records are queued
// or flushInterval has passed, retries failed batches after retryWait,
// and on stop writes what is left once more.
func (b *batcher) run() {
	defer close(b.stopped)
	t := time.NewTicker(b.opts.flushInterval)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			for b.flushOnce() {
			}
			b.mu.Lock()
			if n := uint64(len(b.queue)); n > 0 {
				b.opts.logger.Error("access: records lost at close", "records", n, "err", b.lastErr)
				b.written += n
				b.queue = nil
			}
			close(b.done)
			b.mu.Unlock()
			return
		case <-b.kick:
		case <-t.C:
		}
		for b.flushOnce() {
			b.mu.Lock()
			more := len(b.queue) >= b.opts.maxBatch
			b.mu.Unlock()
			if !more {
				break
			}
		}
		b.mu.Lock()
		failing := b.lastErr != nil
		b.mu.Unlock()
		if failing {
			select {
			case <-b.stop:
			case <-time.After(b.opts.retryWait):
			}
		}
	}
}

// flushOnce writes up to maxBatch queued records and reports whether it
// succeeded with something written.
func (b *batcher) flushOnce() bool {
	b.mu.Lock()
	n := min(len(b.queue), b.opts.maxBatch)
	if n == 0 {
		b.mu.Unlock()
		return false
	}
	batch := b.queue[:n:n]
	b.mu.Unlock()
	enc := make([][]byte, n)
	buf := make([]byte, 0, n*160)
	for i, r := range batch {
		start := len(buf)
		buf, _ = r.AppendBinary(buf) // validated by Write
		enc[i] = buf[start:len(buf):len(buf)]
	}
	err := b.sink.writeBatch(context.Background(), batch, enc)
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.done)
	b.done = make(chan struct{})
	if err != nil {
		b.failed.Add(1)
		b.lastErr = err
		b.opts.logger.Error("access: write batch", "records", n, "err", err)
		return false
	}
	b.lastErr = nil
	b.queue = append([]Record(nil), b.queue[n:]...)
	b.written += uint64(n)
	return true
}
