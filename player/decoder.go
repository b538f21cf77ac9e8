package player

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/retryafter"
	"github.com/segue-fm/segue/player/vorbis"
)

// ErrUnplayable marks a Source or TrackSource error that retrying cannot
// fix (the object is missing, or corrupt at every origin). Errors that do
// not match it are treated as a stall: retried with backoff (at least
// the relay's Retry-After after a 429/503) until the stall timeout,
// while the player reports buffering.
var ErrUnplayable = errors.New("player: track cannot be played")

// ErrLength is returned when a track decodes to a different number of
// samples than its manifest promises.
var ErrLength = errors.New("player: decoded length differs from the manifest")

// decodeBlockFrames is the size of the blocks a decoder hands over.
const decodeBlockFrames = 4096

// decoder fetches and decodes one track in its own goroutine, from source
// sample start on, into a bounded queue of interleaved blocks at the
// track's own rate. It runs ahead of playback by at most the queue's
// capacity (pre-decode) and stops at the end, on a permanent error, or
// when its context is cancelled.
type decoder struct {
	src   TrackSource
	m     *model.Manifest
	start int64
	opts  Options
	wake  func() // called whenever a block or the end is available

	cancel context.CancelFunc
	done   chan struct{}

	queued int // samples of the head queued by queueHead

	mu       sync.Mutex
	blocks   [][]float32
	head     []float32 // partially consumed front block
	finished bool
	err      error
	stalled  bool
	space    chan struct{}
	bw       func(bitsPerSecond float64)
}

// newDecoder starts decoding src from sample start.
func newDecoder(ctx context.Context, src TrackSource, start int64, opts Options, wake func(), bw func(float64)) *decoder {
	ctx, cancel := context.WithCancel(ctx)
	d := &decoder{src: src, m: src.Manifest(), start: start, opts: opts, wake: wake, bw: bw,
		cancel: cancel, done: make(chan struct{}), space: make(chan struct{}, 1)}
	d.queueHead()
	go d.run(ctx)
	return d
}

// queueHead queues the source's decoded head (head0), as far as the
// queue holds it, before the decoder's goroutine starts: the first
// blocks of a prefetched track can be taken at once, on the caller's
// goroutine (Player.PlayNow). decode pushes the rest of the head.
func (d *decoder) queueHead() {
	head := d.head0()
	step := decodeBlockFrames * d.m.Channels
	for len(d.blocks) < d.opts.predecodeBlocks && d.queued < len(head) {
		end := min(len(head), d.queued+step)
		d.blocks = append(d.blocks, head[d.queued:end:end])
		d.queued = end
	}
}

// stop cancels the decoder and waits for its goroutine.
func (d *decoder) stop() {
	d.cancel()
	<-d.done
}

// take moves up to len(dst)/ch frames into dst without blocking. It
// returns the frames moved, and whether the decoder has finished and
// every frame was taken (with the error that ended it, nil at a clean
// end).
func (d *decoder) take(dst []float32) (n int, end bool, err error) {
	ch := d.m.Channels
	d.mu.Lock()
	defer d.mu.Unlock()
	for n*ch < len(dst) {
		if len(d.head) == 0 {
			if len(d.blocks) == 0 {
				break
			}
			d.head = d.blocks[0]
			d.blocks[0] = nil
			d.blocks = d.blocks[1:]
			select {
			case d.space <- struct{}{}:
			default:
			}
		}
		c := copy(dst[n*ch:], d.head)
		d.head = d.head[c:]
		n += c / ch
	}
	if (d.finished || d.err != nil) && len(d.head) == 0 && len(d.blocks) == 0 {
		return n, true, d.err
	}
	return n, false, nil
}

func (d *decoder) setStalled(on bool) {
	d.mu.Lock()
	changed := d.stalled != on
	d.stalled = on
	d.mu.Unlock()
	if changed {
		d.wake()
	}
}

func (d *decoder) run(ctx context.Context) {
	defer close(d.done)
	err := d.decode(ctx)
	if ctx.Err() != nil {
		return // stopped by the player: nobody reads the result
	}
	d.mu.Lock()
	d.finished, d.err, d.stalled = true, err, false
	d.mu.Unlock()
	d.wake()
}

// head0 returns the source's decoded head (HeadSource) when decoding
// starts at sample 0 and the head fits the manifest, else nil.
func (d *decoder) head0() []float32 {
	hs, ok := d.src.(HeadSource)
	if !ok || d.start != 0 || d.m.Chunks[0].FirstSample != 0 {
		return nil
	}
	h := hs.Head()
	if len(h)%d.m.Channels != 0 || int64(len(h)/d.m.Channels) > d.m.TotalSamples {
		return nil
	}
	return h
}

// push queues one block, waiting while the queue is full. A non-nil
// fail is the error that ends the decoder once b is taken: it is set
// with b, so the frame taken last comes with it.
func (d *decoder) push(ctx context.Context, b []float32, fail error) error {
	for {
		d.mu.Lock()
		if len(d.blocks) < d.opts.predecodeBlocks {
			d.blocks = append(d.blocks, b)
			if fail != nil {
				d.err = fail
			}
			d.mu.Unlock()
			d.wake()
			// Let the output run between blocks: under GOOS=js there is
			// no preemption (no sysmon), so a decoder filling its queue
			// (up to predecodeBlocks, seconds of audio) would otherwise
			// hold the only thread that feeds the sink, and the browser's
			// output ran dry meanwhile (docs/ARCHITECTURE.md, Web player).
			runtime.Gosched()
			return nil
		}
		d.mu.Unlock()
		select {
		case <-d.space:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// decode decodes [start, TotalSamples): header ‖ chunk k (primer
// included, so it decodes alone) ‖ chunk k+1 without primer ‖ …, dropping
// the frames of chunk k before start.
func (d *decoder) decode(ctx context.Context) error {
	m := d.m
	if d.start >= m.TotalSamples {
		return nil
	}
	k := m.ChunkAt(max(d.start, 0))
	// A prefetched head goes to the output first (queueHead queued its
	// first blocks); decoding then resumes after it (the same frames, so
	// the same output).
	head := d.head0()
	for off := d.queued; off < len(head); off += decodeBlockFrames * m.Channels {
		end := min(len(head), off+decodeBlockFrames*m.Channels)
		if err := d.push(ctx, head[off:end:end], nil); err != nil {
			return err
		}
	}
	if d.queued > 0 {
		// queueHead queued the head's first blocks before this goroutine
		// started, so no push above let the output run: yield before the
		// header read and decoding, or under GOOS=js (no preemption) the
		// output's next blocks of the head would wait for them.
		runtime.Gosched()
	}
	// The header is a few KB: its read time is latency, not throughput,
	// so it is not counted in the bandwidth estimate.
	hdr, err := retry(ctx, d, func(ctx context.Context) ([]byte, bool, error) {
		b, err := d.src.Header(ctx)
		return b, false, err
	})
	if err != nil {
		return fmt.Errorf("header: %w", err)
	}
	r := &chunkReader{d: d, ctx: ctx, next: k, first: k, cur: hdr}
	sr, err := openStream(ctx, m, r, d.opts)
	if err != nil {
		return err
	}
	got := int64(len(head) / m.Channels)
	skip := d.start - m.Chunks[k].FirstSample + got
	want := m.TotalSamples - d.start
	var lengthErr error
	for {
		pcm, err := sr.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if r.err != nil {
				return r.err
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("%w: decode: %w", ErrUnplayable, err)
		}
		if err := checkFormat(sr, m); err != nil {
			return err
		}
		n := int64(len(pcm[0]))
		lo := min(skip, n)
		skip -= lo
		if lo == n {
			continue
		}
		for i := range pcm {
			pcm[i] = pcm[i][lo:]
		}
		n -= lo
		long := got+n > want
		if long {
			// Hand over the track's frames up to the manifest's length
			// (the listener hears them), then fail. The error comes with
			// the last block, so the track cannot end cleanly before the
			// decoder finishes.
			n = want - got
			lengthErr = fmt.Errorf("%w: more than %d samples", ErrLength, m.TotalSamples)
		}
		got += n
		// A long decode pushes its last block even when empty: it carries
		// the error.
		for off := 0; off < int(n) || (long && off == 0); off += decodeBlockFrames {
			end := min(int(n), off+decodeBlockFrames)
			part := make([][]float32, len(pcm))
			for i := range pcm {
				part[i] = pcm[i][off:end]
			}
			var fail error
			if end == int(n) {
				fail = lengthErr
			}
			if err := d.push(ctx, vorbis.Interleave(make([]float32, 0, (end-off)*len(pcm)), part), fail); err != nil {
				return err
			}
		}
		if long {
			return lengthErr
		}
	}
	if got != want {
		return fmt.Errorf("%w: %d samples from %d, want %d", ErrLength, got, d.start, want)
	}
	return nil
}

// chunkReader is the decoder's byte stream: the header, then chunks in
// order, each fetched with retries when the decoder needs it.
type chunkReader struct {
	d           *decoder
	ctx         context.Context
	next, first int
	cur         []byte
	err         error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		m := r.d.m
		if r.next >= len(m.Chunks) {
			return 0, io.EOF
		}
		i := r.next
		b, err := retry(r.ctx, r.d, func(ctx context.Context) ([]byte, bool, error) { return chunkFrom(ctx, r.d.src, i) })
		if err != nil {
			r.err = fmt.Errorf("chunk %d: %w", i, err)
			return 0, r.err
		}
		if i != r.first {
			if int64(len(b)) < m.Chunks[i].PrimerSize {
				r.err = fmt.Errorf("%w: chunk %d shorter than its primer", ErrUnplayable, i)
				return 0, r.err
			}
			b = b[m.Chunks[i].PrimerSize:]
		}
		r.cur = b
		r.next++
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// chunkFrom reads chunk i of src and reports whether it crossed the
// network: as NetworkSource says, or always for other sources.
func chunkFrom(ctx context.Context, src TrackSource, i int) ([]byte, bool, error) {
	if ns, ok := src.(NetworkSource); ok {
		return ns.ChunkFrom(ctx, i)
	}
	b, err := src.Chunk(ctx, i)
	return b, true, err
}

// retry calls get until it succeeds, fails with ErrUnplayable, or fails
// for longer than the stall timeout, waiting retryWait between attempts.
// Each attempt is bounded by the fetch timeout; the decoder is marked
// stalled while attempts fail. Successful fetches that get says crossed
// the network report their throughput.
func retry(ctx context.Context, d *decoder, get func(context.Context) ([]byte, bool, error)) ([]byte, error) {
	var first time.Time
	backoff := d.opts.retryMin
	for {
		actx, cancel := context.WithTimeout(ctx, d.opts.fetchTimeout)
		t0 := time.Now()
		b, network, err := get(actx)
		cancel()
		if err == nil {
			if el := time.Since(t0); network && el > time.Millisecond && d.bw != nil {
				d.bw(float64(len(b)) * 8 / el.Seconds())
			}
			if !first.IsZero() {
				d.setStalled(false)
			}
			return b, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrUnplayable) {
			return nil, err
		}
		if first.IsZero() {
			first = t0
			d.setStalled(true)
		}
		stalled := time.Since(first)
		if stalled >= d.opts.stallTimeout {
			return nil, fmt.Errorf("stalled for %v: %w", d.opts.stallTimeout, err)
		}
		select {
		case <-time.After(retryWait(backoff, err, d.opts.stallTimeout-stalled)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, d.opts.retryMax)
	}
}

// retryWait returns how long a stall waits after the failed attempt err
// before the next one: backoff, or the relay's Retry-After when err
// carries a longer one (a 429/503, retryafter.Error; capped at
// retryafter.Max, 5 min, as every device client caps it), but never
// past the stall deadline, left away: the last attempt is made at it.
func retryWait(backoff time.Duration, err error, left time.Duration) time.Duration {
	wait := backoff
	if after, ok := retryafter.Wait(err); ok {
		wait = max(wait, after)
	}
	return max(min(wait, left), 0)
}
