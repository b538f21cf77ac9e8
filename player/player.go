package player

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	randv2 "math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// ErrPlayerClosed is returned by a Player's methods after Close.
var ErrPlayerClosed = errors.New("player: closed")

// ErrCrossfadeShortened is the warning published (Status.Err, and logged)
// when a transition cannot overlap as long as the crossfade asks: the
// outgoing or incoming track is shorter than it, or the next track was
// not ready in time (a slow fetch, a seek close to the end). The overlap
// is then as long as possible; the error says why.
var ErrCrossfadeShortened = errors.New("player: crossfade shortened")

// Player plays contexts of tracks from a Source into a Sink: a Queue for
// the controls and play events, and a pipeline per track (fetch with
// retries → decode → resample → loudness gain) feeding a Mixer (gapless or
// crossfade) and a volume Fader. The next track is pre-decoded from 75 %
// of the current one (earlier when a crossfade needs it, see
// PreloadMargin) and joined at the sample.
//
// Its methods are safe for concurrent use and do not block on playback:
// they queue the request for the player's goroutine. Observe the result
// with Subscribe.
type Player struct {
	src  Source
	sink Sink
	opts Options
	log  *slog.Logger
	rate int
	och  int

	in     chan any // drained only by the owner of own (drain)
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the loop ended; read after done

	subMu  sync.Mutex
	subs   map[int]chan Status
	nextID int
	firstW func()

	// own is held by whoever runs the pipeline: the loop goroutine, or
	// PlayNow on its caller's. The fields below are used only under it.
	own     sync.Mutex
	ctx     context.Context
	q       *Queue
	mix     *Mixer
	vol     *Fader
	cur     *slot
	pre     *slot
	dead    *slot // the preload that failed with ErrUnplayable: its load fails at once
	paused  bool
	stalled bool
	buf     []float32
	effects []AudioEffect
	tokens  uint64
	status  Status
	opens   []openedMsg // tracks opened from memory, handled by settle
	stop    error       // the sink's error that ends the loop (PlayNow)
}

// slot is one track being opened or played.
type slot struct {
	token  uint64
	load   uint64 // queue load id; 0 while it is only a preload
	track  model.TrackID
	tier   model.Tier
	fade   time.Duration
	album  model.Loudness // album loudness for GainAlbum; zero: unknown
	start  int64          // output frame to start at
	opened bool
	src    TrackSource
	err    error
	ts     *trackStream
	cancel context.CancelFunc
	unrep  int64 // frames played before the queue adopted the slot
	left   int64 // a preload's: frames the outgoing track had left when it was asked for, or after a later seek in it; -1 unknown
	seeked bool  // a preload's: left was set by a seek in the outgoing track after it was asked for
}

// opened is the result of opening a slot's track.
type openedMsg struct {
	token uint64
	src   TrackSource
	err   error
}

type bandwidthMsg struct{ bps float64 }

// ErrOptions is returned by New for Options it cannot play with: not
// made by DefaultOptions, or a fetch timeout that is not positive (every
// fetch would fail at once, and every track after the stall timeout) or
// a negative stall timeout.
var ErrOptions = errors.New("player: bad options")

// ErrNoSink is returned by New for a nil Source or Sink.
var ErrNoSink = errors.New("player: nil source or sink")

// New starts a player that plays from src into sink at the sink's format.
// The player does not own src or sink: Close the player before them.
func New(src Source, sink Sink, opts Options) (*Player, error) {
	if src == nil || sink == nil {
		return nil, ErrNoSink
	}
	rate, ch := sink.Format()
	if rate < 1000 || rate > 768000 || ch < 1 || ch > 255 {
		return nil, fmt.Errorf("%w: sink %d Hz × %d", ErrFormat, rate, ch)
	}
	if opts.clock == nil || opts.blockFrames == 0 {
		return nil, fmt.Errorf("%w: not initialised: start from DefaultOptions", ErrOptions)
	}
	if opts.fetchTimeout <= 0 || opts.stallTimeout < 0 {
		return nil, fmt.Errorf("%w: fetch timeout %v (want > 0), stall timeout %v (want ≥ 0)", ErrOptions, opts.fetchTimeout, opts.stallTimeout)
	}
	if err := opts.gain.validate(); err != nil {
		return nil, err
	}
	for _, fx := range opts.effects {
		if r, c := fx.Format(); r != rate || c != ch {
			return nil, fmt.Errorf("%w: effect %s runs at %d Hz × %d, the sink at %d Hz × %d", ErrFormat, fx.Name(), r, c, rate, ch)
		}
	}
	if opts.newID == nil {
		opts.newID = randomID
	}
	if opts.rng == nil {
		opts.rng = randv2.New(randv2.NewPCG(randv2.Uint64(), randv2.Uint64()))
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Player{
		src: src, sink: sink, opts: opts, log: opts.logger, rate: rate, och: ch,
		in: make(chan any, 256), wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
		subs: map[int]chan Status{}, ctx: ctx,
		q: NewQueue(QueueConfig{Rate: rate, Device: opts.device, Tier: opts.tier, NewID: opts.newID,
			ShuffleRng: opts.rng}),
		mix: NewMixer(ch), vol: NewFader(ch, 1, rate/50),
		buf: make([]float32, opts.blockFrames*ch), effects: opts.effects,
	}
	go p.loop()
	return p, nil
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Close stops playback, releases every pipeline, and waits for the
// player's goroutine. It returns the error that stopped the player early
// (a failing sink), if any. Close is idempotent.
func (p *Player) Close() error {
	p.cancel()
	<-p.done
	if errors.Is(p.err, context.Canceled) {
		return nil
	}
	return p.err
}

// Send queues a control event (PlayContext, Pause, Resume, Stop, Next,
// Previous, Seek, SetVolume, SetRepeat, SetShuffle, SetTier,
// SetCrossfade, Describe, RemoveInserted).
func (p *Player) Send(ev Event) error {
	select {
	case <-p.done:
		return ErrPlayerClosed
	default:
	}
	return p.post(ev)
}

// post queues a message for the owner of the pipeline and wakes the loop
// (before and after: a full queue is drained once the loop wakes).
func (p *Player) post(msg any) error {
	p.signal()
	select {
	case p.in <- msg:
		p.signal()
		return nil
	case <-p.done:
		return ErrPlayerClosed
	}
}

// PlayNow is Send(ev) carried out on the caller's goroutine: the requests
// sent before it are handled, then ev, and when its first track opens
// from memory (ReadySource) with its first frames decoded (HeadSource),
// the first block is mixed, processed and written to the sink before
// PlayNow returns — through the chain, loudness gain, mixer, effects and
// volume the player then continues with from the next frame, so the
// output is the same as Send's. Otherwise the play goes on as after Send.
// It waits while the player's goroutine is writing a block, and for its
// own sink write; a failed write ends the player, as one of the loop's
// does, and its error is returned.
func (p *Player) PlayNow(ev PlayContext) error {
	p.own.Lock()
	defer p.own.Unlock()
	if p.ctx.Err() != nil || p.stop != nil {
		return ErrPlayerClosed
	}
	p.drain()
	p.handle(ev)
	_, err := p.pump()
	if err != nil {
		p.stop = err // the loop ends with it, as after its own write
	}
	p.signal()
	return err
}

// Play plays items of the context c from index start.
func (p *Player) Play(c model.PlayContext, items []Item, start int) error {
	return p.Send(PlayContext{Context: c, Items: items, Start: start})
}

// PlayFrom is Play starting at output frame frame of items[start],
// sample-exactly: the first frame reaching the sink is that frame. It is
// how an app resumes a play where the listener left it.
func (p *Player) PlayFrom(c model.PlayContext, items []Item, start int, frame int64) error {
	return p.Send(PlayContext{Context: c, Items: items, Start: start, StartFrame: frame})
}

// Describe gives artist and album to queued items whose metadata arrived
// after the play started (see the Describe event).
func (p *Player) Describe(infos []ItemInfo) error { return p.Send(Describe{Infos: infos}) }

// Pause pauses output, keeping the position.
func (p *Player) Pause() error { return p.Send(Pause{}) }

// Resume resumes a paused play.
func (p *Player) Resume() error { return p.Send(Resume{}) }

// Stop ends the play (recorded as stopped).
func (p *Player) Stop() error { return p.Send(Stop{}) }

// Next skips to the next track.
func (p *Player) Next() error { return p.Send(Next{}) }

// Previous goes back a track, or restarts this one past RestartThreshold.
func (p *Player) Previous() error { return p.Send(Previous{}) }

// SeekFrame moves to output frame f of the current track, sample-exactly.
func (p *Player) SeekFrame(f int64) error { return p.Send(Seek{Frame: f}) }

// Seek moves to time d of the current track (rounded down to a frame).
func (p *Player) Seek(d time.Duration) error {
	return p.SeekFrame(p.frames(d))
}

// ErrBadVolume is returned by SetVolume for a volume that is not a
// number (NaN), which would silence nothing and turn every sample into
// NaN.
var ErrBadVolume = errors.New("player: volume is not a number")

// SetVolume sets the linear volume in [0, 1] (clamped); NaN is refused
// with ErrBadVolume.
func (p *Player) SetVolume(g float64) error {
	if math.IsNaN(g) {
		return fmt.Errorf("set volume: %w", ErrBadVolume)
	}
	return p.Send(SetVolume{Gain: g})
}

// ErrBadRepeat is returned by SetRepeat for a mode other than RepeatOff,
// RepeatContext and RepeatTrack.
var ErrBadRepeat = errors.New("player: unknown repeat mode")

// SetRepeat sets the repeat mode; an unknown one is refused with
// ErrBadRepeat.
func (p *Player) SetRepeat(m RepeatMode) error {
	if !m.valid() {
		return fmt.Errorf("set repeat %d: %w", m, ErrBadRepeat)
	}
	return p.Send(SetRepeat{Mode: m})
}

// SetShuffle turns smart shuffle on or off.
func (p *Player) SetShuffle(on bool) error { return p.Send(SetShuffle{On: on}) }

// SetTier chooses the tier from the next track on; an invalid tier is
// refused with model.ErrInvalidTier.
func (p *Player) SetTier(t model.Tier) error {
	if !t.Valid() {
		return fmt.Errorf("set tier %q: %w", t, model.ErrInvalidTier)
	}
	return p.Send(SetTier{Tier: t})
}

// SetCrossfade sets the crossfade between tracks of different albums
// (0–12 s, equal power).
func (p *Player) SetCrossfade(d time.Duration) error { return p.Send(SetCrossfade{Duration: d}) }

// RemoveInserted takes the Smart Shuffle item at index (Status.Index) out
// of the queue (see the RemoveInserted event).
func (p *Player) RemoveInserted(index int) error { return p.Send(RemoveInserted{Index: index}) }

// Subscribe returns a channel of status updates (state, track, position,
// buffering, warnings and errors) and a function that ends the
// subscription. The channel is buffered; a subscriber that falls behind
// loses the oldest updates that carry no Err, never the newest and never
// a warning or an error while the buffer holds any update without one.
// The channel is closed when the subscription ends or the player closes.
func (p *Player) Subscribe() (<-chan Status, func()) {
	c := make(chan Status, 64)
	p.subMu.Lock()
	defer p.subMu.Unlock()
	if p.subs == nil {
		close(c)
		return c, func() {}
	}
	id := p.nextID
	p.nextID++
	p.subs[id] = c
	c <- p.status
	return c, func() {
		p.subMu.Lock()
		defer p.subMu.Unlock()
		if ch, ok := p.subs[id]; ok {
			delete(p.subs, id)
			close(ch)
		}
	}
}

// OnFirstWrite sets fn to run once, on the player's goroutine, right
// after the first audio frames of the next play reach the sink (time to
// first audio). fn must not block.
func (p *Player) OnFirstWrite(fn func()) {
	p.subMu.Lock()
	p.firstW = fn
	p.subMu.Unlock()
}

func (p *Player) publish(st Status) {
	p.subMu.Lock()
	defer p.subMu.Unlock()
	p.status = st
	for _, c := range p.subs {
		select {
		case c <- st:
		default:
			dropOldest(c)
			select {
			case c <- st:
			default:
			}
		}
	}
}

// dropOldest makes room in the full channel c by removing its oldest
// update without an Err (the oldest of all when every one has an Err),
// keeping the others in order: a subscriber behind on progress updates
// still sees every warning and error. The caller holds subMu, so no
// other update is sent meanwhile; the subscriber may receive some of
// them concurrently.
func dropOldest(c chan Status) {
	held := make([]Status, 0, len(c))
	for len(held) < cap(held) {
		select {
		case st := <-c:
			held = append(held, st)
			continue
		default:
		}
		break
	}
	i := slices.IndexFunc(held, func(st Status) bool { return st.Err == nil })
	if i < 0 {
		i = 0
	}
	for j, st := range held {
		if j == i {
			continue
		}
		select {
		case c <- st:
		default:
		}
	}
}

// signal wakes the loop (from decoders); it never blocks.
func (p *Player) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Player) loop() {
	defer close(p.done)
	defer func() {
		p.own.Lock()
		p.halt()
		if p.stop != nil && errors.Is(p.err, context.Canceled) {
			p.err = p.stop // PlayNow's write failed; Close came first
		}
		if p.stop == nil {
			p.stop = ErrPlayerClosed // PlayNow after the end
		}
		p.own.Unlock()
		p.subMu.Lock()
		for id, c := range p.subs {
			delete(p.subs, id)
			close(c)
		}
		p.subs = nil
		p.subMu.Unlock()
	}()
	for {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			return
		}
		busy, err := p.turn()
		if err != nil {
			p.err = err
			return
		}
		if busy {
			continue
		}
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			p.err = p.ctx.Err()
			return
		}
	}
}

// turn handles the queued messages, or else pumps one block, under the
// owner lock. The lock is released by a deferred call, so a panic in the
// pipeline reaches the loop's cleanup (which takes the lock) and then
// ends the program with its trace, instead of waiting for the lock for
// ever: playback stopped without a word and Close hung.
func (p *Player) turn() (bool, error) {
	p.own.Lock()
	defer p.own.Unlock()
	if p.drain() {
		return true, nil
	}
	return p.pump()
}

// drain handles every queued message and reports whether there was one.
func (p *Player) drain() bool {
	got := false
	for {
		select {
		case msg := <-p.in:
			p.handle(msg)
			got = true
		default:
			return got
		}
	}
}

// pump writes one block when the current track can give it now. It
// reports whether it did something (a block written, a track failed),
// and the sink's error that ends the player.
func (p *Player) pump() (bool, error) {
	if p.stop != nil {
		return false, p.stop
	}
	if p.paused || p.mix.Current() == nil {
		return false, nil
	}
	ok, err := p.ready()
	if err != nil {
		// During a crossfade the incoming track goes on where it is
		// (the queue then adopts it), instead of restarting as after a
		// skip: its first seconds were heard twice.
		p.mix.dropCurrent()
		p.fail(err)
		p.settle()
		return true, nil
	}
	if !ok {
		p.setStalled(true)
		p.settle()
		return false, nil
	}
	p.setStalled(false)
	if err := p.output(); err != nil {
		st := p.status
		st.Err = err
		p.publish(st)
		return false, err
	}
	p.settle()
	return true, nil
}

func (p *Player) setStalled(on bool) {
	if p.stalled == on || p.cur == nil || p.cur.load == 0 {
		return
	}
	p.stalled = on
	p.step(Buffering{Load: p.cur.load, On: on})
}

// ready reports whether the next block can be mixed without waiting, or
// the error that stops the current track.
func (p *Player) ready() (bool, error) {
	need := int64(p.opts.blockFrames)
	cur, ok := p.mix.Current().(*trackStream)
	if !ok {
		return true, nil
	}
	if !cur.available(need) {
		err := cur.err()
		if err == nil {
			return false, nil
		}
		if !cur.buffered() {
			return false, err
		}
		// The frames decoded before the error are heard first, mixed
		// with the next track's when a crossfade has begun.
	}
	if p.pre != nil && !p.pre.opened && p.pre.fade > 0 && cur == p.cur.ts &&
		cur.Remaining() < need+p.frames(p.pre.fade) {
		return false, nil // the crossfade needs the next track: wait for it
	}
	// A crossfade's block mixes the next track's first frames. A gapless
	// one ends at the transition (Mixer.Read) and reads none: asking for a
	// block of the next track there would fill its chain to the end of a
	// track shorter than a block, flushing the resampler before the track
	// after it could join.
	if p.pre != nil && p.pre.ts != nil && p.mix.next == p.pre.ts && p.mix.fade > 0 && cur.Remaining() < need+p.mix.fade {
		if !p.pre.ts.available(need) {
			if err := p.pre.ts.err(); err != nil {
				p.preloadFailed(err)
				return true, nil
			}
			return false, nil
		}
	}
	return true, nil
}

// output mixes one block, writes it to the sink, and reports progress.
func (p *Player) output() error {
	a, _ := p.mix.Current().(*trackStream)
	var b *trackStream
	if nb, ok := p.mix.next.(*trackStream); ok {
		b = nb
	}
	remA, remB := int64(0), int64(0)
	if a != nil {
		remA = a.Remaining()
	}
	if b != nil {
		remB = b.Remaining()
	}
	n, err := p.mix.Read(p.buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, errUnderrun) {
		p.log.Warn("player: mix", "err", err)
	}
	if n > 0 {
		out := p.buf[:n*p.och]
		p.applyEffects(out)
		p.vol.Apply(out)
		if err := p.sink.Write(p.ctx, out); err != nil {
			return fmt.Errorf("player: write sink: %w", err)
		}
		p.subMu.Lock()
		fn := p.firstW
		p.firstW = nil
		p.subMu.Unlock()
		if fn != nil {
			fn()
		}
	}
	for _, s := range []*trackStream{a, b} {
		if s == nil {
			continue
		}
		rem := remA
		if s == b {
			rem = remB
		}
		delta := rem - s.Remaining()
		switch {
		case p.cur != nil && p.cur.ts == s:
			if delta > 0 {
				p.step(Advanced{Load: p.cur.load, Frames: delta})
			}
		case p.pre != nil && p.pre.ts == s:
			p.pre.unrep += delta
		}
	}
	if p.cur != nil && p.cur.ts != nil && p.cur.ts == a && a.Remaining() == 0 {
		if err := a.failure(); err != nil {
			if p.pre != nil && p.pre.ts != nil && p.pre.ts.ch == a.ch {
				// Its chain ended with the failure: the next track is
				// loaded anew in its turn.
				p.dropPreload(err)
			}
			p.fail(err)
		} else {
			p.step(Ended{Load: p.cur.load})
		}
	}
	return nil
}

// fail reports the current track as failed.
func (p *Player) fail(err error) {
	if p.cur == nil {
		return
	}
	p.log.Warn("player: track failed", "track", p.cur.track, "tier", p.cur.tier, "err", err)
	p.step(Failed{Load: p.cur.load, Err: fmt.Errorf("play %s: %w", p.cur.track, err)})
}

// handle processes one message from the API or a pipeline goroutine,
// then the tracks it opened from memory.
func (p *Player) handle(msg any) {
	switch m := msg.(type) {
	case Event:
		if b, ok := p.sink.(BufferedSink); ok && jump(m) {
			b.DropBuffered()
		}
		p.step(m)
	case openedMsg:
		p.opened(m)
	case bandwidthMsg:
		p.step(Bandwidth{BitsPerSecond: m.bps})
	}
	p.settle()
}

// jump reports whether ev leaves the audio written so far: a new play,
// a seek, a skip or a stop (BufferedSink).
func jump(ev Event) bool {
	switch ev.(type) {
	case PlayContext, Seek, Next, Previous, Stop:
		return true
	}
	return false
}

// settle attaches the tracks open opened from memory, in order, as if
// their openedMsg had come next.
func (p *Player) settle() {
	for len(p.opens) > 0 {
		m := p.opens[0]
		p.opens = p.opens[1:]
		p.opened(m)
	}
}

// step feeds the queue and carries out its effects.
func (p *Player) step(ev Event) {
	for _, fx := range p.q.Step(p.opts.clock(), ev) {
		switch f := fx.(type) {
		case Load:
			p.load(f)
		case Preload:
			p.preload(f)
		case SeekTo:
			p.seek(f)
		case Output:
			p.paused = !f.Playing
		case Volume:
			p.vol.SetGain(float32(f.Gain))
		case Halt:
			p.halt()
		case Record:
			p.record(f.Event)
		case Warn:
			st := p.status
			st.Err = f.Err
			p.publish(st)
		case Publish:
			p.publish(f.Status)
		}
	}
}

func (p *Player) record(ev model.PlayEvent) {
	if p.opts.history == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.opts.history.Append(ctx, ev); err != nil {
		p.log.Error("player: record play event", "track", ev.TrackID, "err", err)
	}
}

// halt stops every pipeline.
func (p *Player) halt() {
	p.release(p.cur)
	p.release(p.pre)
	p.cur, p.pre, p.dead, p.stalled = nil, nil, nil, false
	p.mix.Play(nil)
}

// release stops a slot's opening and decoding.
func (p *Player) release(s *slot) {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.ts != nil {
		s.ts.ch.stop()
	}
	// The source is closed unless the other slot shares it. Before, the
	// slot was compared with itself, so the current or preloaded slot's
	// source was never closed (at Stop, Close, or a new play).
	shared := func(o *slot) bool { return o != nil && o != s && o.src == s.src }
	if s.src != nil && !shared(p.cur) && !shared(p.pre) {
		s.src.Close()
	}
}

// open starts opening a slot's track: from memory when the source can
// (ReadySource; settle attaches it), else in the background.
func (p *Player) open(s *slot) {
	p.tokens++
	s.token = p.tokens
	if rs, ok := p.src.(ReadySource); ok {
		if src, ok := rs.OpenReady(s.track, s.tier); ok {
			var err error
			if err = src.Manifest().Validate(); err != nil {
				src.Close()
				src, err = nil, fmt.Errorf("%w: %w", ErrUnplayable, err)
			}
			p.opens = append(p.opens, openedMsg{token: s.token, src: src, err: err})
			return
		}
	}
	ctx, cancel := context.WithCancel(p.ctx)
	s.cancel = cancel
	go func() {
		src, err := p.openTrack(ctx, s.track, s.tier)
		select {
		case p.in <- openedMsg{token: s.token, src: src, err: err}:
			p.signal()
		case <-ctx.Done():
			if src != nil {
				src.Close()
			}
		}
	}()
}

// openTrack opens a track, retrying transient failures like a stall.
func (p *Player) openTrack(ctx context.Context, id model.TrackID, tier model.Tier) (TrackSource, error) {
	var first time.Time
	backoff := p.opts.retryMin
	for {
		actx, cancel := context.WithTimeout(ctx, p.opts.fetchTimeout)
		t0 := time.Now()
		src, err := p.src.OpenTrack(actx, id, tier)
		cancel()
		switch {
		case err == nil:
			if err := src.Manifest().Validate(); err != nil {
				src.Close()
				return nil, fmt.Errorf("%w: %w", ErrUnplayable, err)
			}
			return src, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, ErrUnplayable):
			return nil, err
		}
		if first.IsZero() {
			first = t0
		}
		stalled := time.Since(first)
		if stalled >= p.opts.stallTimeout {
			return nil, fmt.Errorf("stalled for %v: %w", p.opts.stallTimeout, err)
		}
		select {
		case <-time.After(retryWait(backoff, err, p.opts.stallTimeout-stalled)):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, p.opts.retryMax)
	}
}

// load carries out a Load: adopt the preloaded track when it matches,
// else open the track anew.
func (p *Player) load(l Load) {
	old := p.cur
	p.stalled = false
	dead := p.dead
	p.dead = nil
	if dead != nil && dead.track == l.Track && dead.tier == l.Tier {
		// It fails as a failed open from memory does: after this step,
		// so the queue publishes the load before the failure.
		p.replace(old, &slot{load: l.Load, track: l.Track, tier: l.Tier, album: l.AlbumLoudness, start: l.StartFrame})
		p.tokens++
		p.cur.token = p.tokens
		p.opens = append(p.opens, openedMsg{token: p.cur.token, err: dead.err})
		return
	}
	if pre := p.pre; pre != nil && pre.track == l.Track && pre.tier == l.Tier && l.StartFrame == 0 {
		p.pre = nil
		pre.load = l.Load
		p.cur = pre
		if old != nil && old.ts != nil && p.mix.Current() == old.ts {
			// A user skip: the outgoing track stops now, and the incoming
			// one starts from its beginning on a chain of its own.
			if pre.ts != nil && (pre.ts.ch == old.ts.ch || pre.ts.consumed > 0) {
				p.restart(pre)
			}
			p.play(pre.ts)
		}
		p.releaseOld(old)
		if pre.opened {
			p.adopted()
		}
		return
	}
	p.replace(old, &slot{load: l.Load, track: l.Track, tier: l.Tier, album: l.AlbumLoudness, start: l.StartFrame})
	p.open(p.cur)
}

// replace makes s the current slot in place of old, stopping old's and
// the preload's pipelines and the mixer. Before, old was released while
// it was still the current slot, which releaseOld takes for "nothing to
// release": every skip to a track not preloaded left the old track's
// decoder blocked for good with its decoded audio.
func (p *Player) replace(old, s *slot) {
	p.release(p.pre)
	p.pre = nil
	p.cur = s
	p.releaseOld(old)
	p.mix.Play(nil)
}

// releaseOld stops the previous slot's pipeline unless its chain lives on
// in the new current track.
func (p *Player) releaseOld(old *slot) {
	if old == nil || old == p.cur {
		return
	}
	if old.cancel != nil {
		old.cancel()
	}
	if old.ts == nil {
		if old.src != nil {
			old.src.Close()
		}
		return
	}
	if p.cur.ts == nil || p.cur.ts.ch != old.ts.ch {
		old.ts.ch.stop()
	} else {
		// The chain continues with the new track; stop only the old decoder.
		old.ts.ch.retire(old.ts)
	}
	old.src.Close()
}

// play makes ts (nil: nothing) the mixer's current stream.
func (p *Player) play(ts *trackStream) {
	if ts == nil {
		p.mix.Play(nil)
		return
	}
	p.mix.Play(ts)
}

// restart gives a slot a fresh chain from its track start, reusing its
// open source. Frames it played as a preload (a crossfade's fade-in) are
// forgotten: it plays them again.
func (p *Player) restart(s *slot) {
	old := s.ts
	s.unrep = 0
	ts, err := p.newStream(s, freshGrid, 0)
	if err != nil {
		s.err = err
		s.ts = nil
		return
	}
	s.ts = ts
	if old != nil {
		for _, mb := range old.ch.members {
			if mb.ts == old {
				mb.dec.stop()
			}
		}
	}
}

// adopted tells the queue the current slot is open (or failed) and
// accounts for frames it played as a preload.
func (p *Player) adopted() {
	s := p.cur
	if s.err != nil || s.ts == nil {
		err := s.err
		if err == nil {
			err = ErrUnplayable
		}
		p.fail(err)
		return
	}
	if p.mix.Current() == nil {
		p.play(s.ts)
	}
	p.step(Ready{Load: s.load, Frames: s.ts.frames, Bitrate: s.src.Manifest().Bitrate})
	if s.unrep > 0 && p.cur == s {
		n := s.unrep
		s.unrep = 0
		p.step(Advanced{Load: s.load, Frames: n})
	}
}

// preload carries out a Preload.
func (p *Player) preload(f Preload) {
	p.release(p.pre)
	p.dead = nil
	p.pre = &slot{track: f.Track, tier: f.Tier, fade: f.Crossfade, album: f.AlbumLoudness, left: -1}
	if p.cur != nil && p.cur.ts != nil {
		p.pre.left = p.cur.ts.Remaining()
	}
	if f.Crossfade == 0 && p.cur != nil && p.cur.ts != nil {
		p.cur.ts.ch.final = false // a gapless successor may join the chain
	}
	p.open(p.pre)
}

// crossfade returns the overlap, in frames, of the preloaded slot s after
// the outgoing stream cur: its requested crossfade, shortened to what both
// tracks allow from now on. A shortened crossfade is published and logged
// with its reason, never applied silently.
func (p *Player) crossfade(s *slot, cur *trackStream) int64 {
	want := min(p.frames(s.fade), MaxCrossfadeFrames)
	got := min(want, cur.Remaining(), s.ts.Remaining())
	if got == want {
		return got
	}
	var reason string
	switch {
	case s.ts.Remaining() < want && s.ts.Remaining() < cur.Remaining():
		reason = fmt.Sprintf("the incoming track lasts %v", framesToDuration(s.ts.Remaining(), p.rate))
	case cur.frames < want:
		reason = fmt.Sprintf("the outgoing track lasts %v", framesToDuration(cur.frames, p.rate))
	case s.left >= 0 && s.left < want && s.seeked:
		reason = fmt.Sprintf("a seek left only %v of the outgoing track", framesToDuration(s.left, p.rate))
	case s.left >= 0 && s.left < want:
		// The fade into the outgoing track, or a seek, left less of it
		// than the crossfade by the time the next one was asked for.
		reason = fmt.Sprintf("only %v of the outgoing track was left when the next one was asked for", framesToDuration(s.left, p.rate))
	default:
		reason = fmt.Sprintf("the next track was ready only %v before the end", framesToDuration(cur.Remaining(), p.rate))
	}
	err := fmt.Errorf("%w to %v of %v: %s", ErrCrossfadeShortened, framesToDuration(got, p.rate), s.fade, reason)
	p.log.Warn("player: crossfade shortened", "track", s.track, "requested", s.fade,
		"overlap", framesToDuration(got, p.rate), "reason", reason)
	st := p.status
	st.Err = err
	p.publish(st)
	return got
}

// preloadFailed abandons a preload whose own pipeline failed with err.
// When retrying cannot fix it (ErrUnplayable) the track fails at once
// when the queue loads it: opened again, its first frames, heard as it
// faded in, were heard again before it failed again.
func (p *Player) preloadFailed(err error) {
	if errors.Is(err, ErrUnplayable) {
		p.dead = &slot{track: p.pre.track, tier: p.pre.tier, err: err}
	}
	p.dropPreload(err)
}

// dropPreload abandons a preload whose pipeline failed; the queue will
// load the track anew when it comes.
func (p *Player) dropPreload(err error) {
	s := p.pre
	p.log.Warn("player: preload failed", "track", s.track, "err", err)
	if p.mix.next == s.ts {
		p.mix.next, p.mix.fade = nil, 0
	}
	if s.ts != nil && p.cur != nil && p.cur.ts != nil && s.ts.ch == p.cur.ts.ch {
		ch := s.ts.ch
		last := ch.members[len(ch.members)-1]
		last.dec.stop()
		ch.members = ch.members[:len(ch.members)-1]
		ch.planned -= last.want
	}
	p.pre = nil
	if s.cancel != nil {
		s.cancel()
	}
	if s.src != nil {
		s.src.Close()
	}
	if p.cur != nil && p.cur.ts != nil {
		p.cur.ts.ch.final = true
	}
}

// opened attaches an opened track to its slot.
func (p *Player) opened(m openedMsg) {
	var s *slot
	switch {
	case p.cur != nil && p.cur.token == m.token:
		s = p.cur
	case p.pre != nil && p.pre.token == m.token:
		s = p.pre
	default:
		if m.src != nil {
			m.src.Close()
		}
		return
	}
	s.opened, s.src, s.err = true, m.src, m.err
	if s.err == nil {
		if s == p.pre && s.fade == 0 && p.cur != nil && p.cur.ts != nil && p.canLink(p.cur.ts, s.src.Manifest()) {
			s.ts = p.linkedStream(p.cur.ts.ch, s)
		} else {
			s.ts, s.err = p.newStream(s, freshGrid, s.start)
		}
	}
	if s == p.pre {
		if p.cur != nil && p.cur.ts != nil {
			// Resolved: the successor joined the chain or will not.
			p.cur.ts.ch.final = true
		}
		if s.err != nil {
			p.preloadFailed(s.err)
			return
		}
		if p.cur != nil && p.cur.ts != nil && p.mix.Current() == p.cur.ts {
			p.mix.Enqueue(s.ts, p.crossfade(s, p.cur.ts))
		}
		return
	}
	p.adopted()
}

// canLink reports whether a track of manifest m can continue cur's chain
// gaplessly: same rate and channels, cur is the chain's last member, and
// m continues cur's resampling grid (see continues).
func (p *Player) canLink(cur *trackStream, m *model.Manifest) bool {
	ch := cur.ch
	last := ch.members[len(ch.members)-1]
	return last.ts == cur && !ch.flushed && cur.m.SampleRate == m.SampleRate && cur.m.Channels == m.Channels &&
		continues(cur.m, m)
}

// linkedStream appends the slot's open track to chain c.
func (p *Player) linkedStream(c *chain, s *slot) *trackStream {
	ts := p.streamFor(s)
	dec := newDecoder(p.ctx, s.src, 0, p.opts, p.signal, p.bandwidth)
	c.link(ts, dec)
	return ts
}

func (p *Player) bandwidth(bps float64) {
	select {
	case p.in <- bandwidthMsg{bps}:
		p.signal()
	default:
	}
}

// streamFor returns an unattached stream for the slot's open track with
// its loudness gain (of the track, or of its album in GainAlbum mode).
func (p *Player) streamFor(s *slot) *trackStream {
	m := s.src.Manifest()
	g := NormalisationGainDB(m.Loudness, s.album, p.opts.gain)
	return &trackStream{src: s.src, m: m, gain: DBToLinear(g), outCh: p.och, rate: p.rate, bitrate: m.Bitrate}
}

// freshGrid asks newStream for a new resampling grid (see chain.startIn).
const freshGrid = -1

// newStream builds a fresh chain for the slot's open track positioned at
// output frame f, on the resampling grid of input offset cIn (freshGrid: a
// new one): decoding starts early enough (at an input frame on the grid)
// that the resampler's output from f on is exactly that of an
// uninterrupted play.
func (p *Player) newStream(s *slot, cIn, f int64) (*trackStream, error) {
	src := s.src
	m := src.Manifest()
	c, err := newChain(m.SampleRate, p.rate, m.Channels)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnplayable, err)
	}
	if cIn == freshGrid {
		cIn = c.startIn(m)
	}
	ts := p.streamFor(s)
	ts.ch, ts.cIn = c, cIn
	first, end := c.span(cIn, m)
	ts.cOut, ts.frames = first, end-first
	f = min(max(f, 0), ts.frames)
	margin := int64(0)
	if c.l != c.m {
		margin = int64(c.res.Latency()) + 1
	}
	a := max(floorDiv((ts.cOut+f)*c.m, c.l)-cIn-margin, -cIn)
	s0 := floorDiv(cIn+a, c.m)*c.m - cIn
	k0 := (cIn + s0) / c.m * c.l
	ts.off = ts.cOut - k0
	ts.pos = f
	start := min(max(s0, 0), m.TotalSamples)
	c.zeros = max(-s0, 0)
	c.planned = c.zeros + m.TotalSamples - start
	dec := newDecoder(p.ctx, src, start, p.opts, p.signal, p.bandwidth)
	c.members = append(c.members, &member{ts: ts, dec: dec, want: m.TotalSamples - start})
	return ts, nil
}

// frames converts a duration to output frames.
func (p *Player) frames(d time.Duration) int64 {
	return int64(d/time.Second)*int64(p.rate) + int64(d%time.Second)*int64(p.rate)/int64(time.Second)
}

// seek carries out a SeekTo on the current track.
func (p *Player) seek(f SeekTo) {
	s := p.cur
	if s == nil || s.load != f.Load {
		return
	}
	if s.ts == nil {
		s.start = f.Frame
		return
	}
	old := s.ts
	ts, err := p.newStream(s, old.cIn, f.Frame)
	if err != nil {
		p.fail(err)
		return
	}
	old.ch.stop()
	s.ts = ts
	p.stalled = false
	p.mix.Play(ts)
	if p.pre != nil {
		p.pre.left, p.pre.seeked = ts.Remaining(), true
	}
	if pre := p.pre; pre != nil && pre.ts != nil {
		switch {
		case pre.ts.ch == old.ch && pre.fade == 0 && p.canLink(ts, pre.src.Manifest()):
			// old.ch.stop stopped its decoder too: join the new chain.
			pre.ts = p.linkedStream(ts.ch, pre)
		case pre.ts.ch == old.ch || pre.ts.consumed > 0:
			// Its decoder stopped with the old chain, or it was already
			// fading in: it starts afresh, so the crossfade after the
			// seek begins at its first frame.
			p.restart(pre)
			if pre.ts == nil {
				p.preloadFailed(pre.err)
				return
			}
		}
		p.mix.Enqueue(pre.ts, p.crossfade(pre, ts))
	} else if pre != nil && pre.fade == 0 {
		ts.ch.final = false
	}
}
