package player

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/shuffle"
)

// ErrNotRemovable is the warning RemoveInserted publishes for an item
// that is not an inserted one, or is playing.
var ErrNotRemovable = errors.New("player: only an inserted item that is not playing can be removed")

// ErrTierUnsustainable is the warning published when the measured download
// speed cannot sustain the chosen tier. The player never downgrades on its
// own.
var ErrTierUnsustainable = errors.New("player: download speed cannot sustain the chosen tier")

// RestartThreshold is the position beyond which Previous restarts the
// current track instead of going back.
const RestartThreshold = 3 * time.Second

// PreloadMargin is how long before a crossfade (or a gapless transition)
// must start the next track is preloaded: time to fetch and pre-decode
// its start. The next track is preloaded at 75 % of the current one, or
// earlier when the transition needs it: at the track's end − crossfade −
// PreloadMargin (at its start when that is before it).
const PreloadMargin = 2 * time.Second

// RepeatMode is the queue's repeat setting.
type RepeatMode int

// Repeat modes.
const (
	RepeatOff RepeatMode = iota
	RepeatContext
	RepeatTrack
)

// valid reports whether m is one of the repeat modes.
func (m RepeatMode) valid() bool { return m >= RepeatOff && m <= RepeatTrack }

// State is the playback state published to subscribers.
type State int

// Playback states.
const (
	StateIdle State = iota
	StateBuffering
	StatePlaying
	StatePaused
	StateEnded
)

// Item is one entry of a play context. AlbumLoudness is the loudness of
// the track's album as a whole (model.Album.Loudness); it drives the gain
// in GainAlbum mode, and when it is zero (unknown) the track's own
// loudness is used.
type Item struct {
	Track         model.TrackID
	Artist        model.ArtistID
	Album         model.AlbumID
	AlbumLoudness model.Loudness
	// Inserted marks a recommended track Smart Shuffle put between the
	// context's own items: its play event's context is
	// {ContextSmartShuffle, the context's id}, Status shows it, and
	// RemoveInserted may take it out of the queue (the context itself,
	// e.g. the playlist document, is never edited).
	Inserted bool
}

// ItemInfo is the artist and album of the item at Index of the context's
// items, which is Track (Describe).
type ItemInfo struct {
	Index  int
	Track  model.TrackID
	Artist model.ArtistID
	Album  model.AlbumID
}

// ContextSmartShuffle is the play-context kind of the play events of
// inserted items (Item.Inserted).
const ContextSmartShuffle = "smart_shuffle"

// Event is an input to Queue.Step: a user control or a pipeline report.
type Event interface{ isEvent() }

// User controls.
type (
	// PlayContext starts playing items from index Start, at output
	// frame StartFrame of that track (0: its beginning; resuming where a
	// listener left off on another device passes the saved position).
	PlayContext struct {
		Context    model.PlayContext
		Items      []Item
		Start      int
		StartFrame int64
		Offline    bool
	}
	// Pause stops output, keeping the position.
	Pause struct{}
	// Resume continues a paused play.
	Resume struct{}
	// Stop ends the play (recorded as stopped) and halts the pipeline.
	Stop struct{}
	// Next skips to the next track (recorded as skipped).
	Next struct{}
	// Previous restarts the track after RestartThreshold, else goes back.
	Previous struct{}
	// Seek moves to Frame (output frames) of the current track.
	Seek struct{ Frame int64 }
	// SetVolume sets the linear volume, clamped to [0, 1]; NaN leaves it
	// unchanged.
	SetVolume struct{ Gain float64 }
	// SetRepeat sets the repeat mode (an unknown one is ignored).
	SetRepeat struct{ Mode RepeatMode }
	// SetShuffle turns smart shuffle on or off; the current track stays.
	SetShuffle struct{ On bool }
	// SetTier chooses the tier used from the next track on (an invalid
	// one is ignored).
	SetTier struct{ Tier model.Tier }
	// SetCrossfade sets the crossfade, clamped to [0, MaxCrossfade].
	SetCrossfade struct{ Duration time.Duration }
	// Describe gives artist and album to items queued without them,
	// whose metadata arrived after the play started (FillLate). An
	// ItemInfo applies to the item at its Index only while that item is
	// its Track, so one meant for a context since replaced changes
	// nothing. From then on the crossfade and gapless decisions use them
	// and, with shuffle on, the items whose turn is not decided yet are
	// spread by artist again: those already played, the current one and
	// the next one once it is preloaded keep their places. Nothing is
	// published.
	Describe struct{ Infos []ItemInfo }
	// RemoveInserted takes the inserted item at Index (in the
	// context's items, as Status.Index counts) out of the queue; the
	// current item, or one not Inserted, is refused with a Warn
	// (ErrNotRemovable). Skip the current one with Next.
	RemoveInserted struct{ Index int }
)

// Pipeline reports, tagged with the Load they refer to; stale ones are
// ignored.
type (
	// Ready says the track is buffered: exact length in output frames and
	// the manifest's nominal bitrate.
	Ready struct {
		Load    uint64
		Frames  int64
		Bitrate int
	}
	// Advanced says Frames more frames of the track reached the sink.
	Advanced struct {
		Load   uint64
		Frames int64
	}
	// Ended says the track's last frame reached the sink.
	Ended struct{ Load uint64 }
	// Failed says the track could not be played.
	Failed struct {
		Load uint64
		Err  error
	}
	// Bandwidth reports the measured download speed.
	Bandwidth struct{ BitsPerSecond float64 }
	// Buffering says the pipeline of Load ran dry (On) or refilled (!On)
	// mid-track, e.g. during a network stall.
	Buffering struct {
		Load uint64
		On   bool
	}
)

func (PlayContext) isEvent()    {}
func (Pause) isEvent()          {}
func (Resume) isEvent()         {}
func (Stop) isEvent()           {}
func (Next) isEvent()           {}
func (Previous) isEvent()       {}
func (Seek) isEvent()           {}
func (SetVolume) isEvent()      {}
func (SetRepeat) isEvent()      {}
func (SetShuffle) isEvent()     {}
func (SetTier) isEvent()        {}
func (SetCrossfade) isEvent()   {}
func (RemoveInserted) isEvent() {}
func (Describe) isEvent()       {}
func (Ready) isEvent()          {}
func (Advanced) isEvent()       {}
func (Ended) isEvent()          {}
func (Failed) isEvent()         {}
func (Bandwidth) isEvent()      {}
func (Buffering) isEvent()      {}

// Effect is an output of Queue.Step for the pipeline, the store or
// subscribers to carry out.
type Effect interface{ isEffect() }

// Effects.
type (
	// Load opens Track at Tier and starts it at StartFrame; Crossfade is
	// the overlap with the previous track (0: gapless or a fresh start);
	// AlbumLoudness is the item's (for GainAlbum).
	Load struct {
		Load          uint64
		Track         model.TrackID
		Tier          model.Tier
		StartFrame    int64
		Crossfade     time.Duration
		AlbumLoudness model.Loudness
	}
	// Preload fetches and pre-decodes the next track, which will follow
	// the current one after Crossfade of overlap (0: gapless).
	Preload struct {
		Track         model.TrackID
		Tier          model.Tier
		Crossfade     time.Duration
		AlbumLoudness model.Loudness
	}
	// SeekTo moves the pipeline of Load to Frame, sample-accurately.
	SeekTo struct {
		Load  uint64
		Frame int64
	}
	// Output pauses or resumes the sink.
	Output struct{ Playing bool }
	// Volume ramps the output volume to Gain.
	Volume struct{ Gain float64 }
	// Halt stops and releases the pipeline.
	Halt struct{}
	// Publish carries the state for subscribers.
	Publish struct{ Status Status }
	// Record appends the play event to the store's history queue.
	Record struct{ Event model.PlayEvent }
	// Warn carries a non-fatal problem for subscribers.
	Warn struct{ Err error }
)

func (Load) isEffect()    {}
func (Preload) isEffect() {}
func (SeekTo) isEffect()  {}
func (Output) isEffect()  {}
func (Volume) isEffect()  {}
func (Halt) isEffect()    {}
func (Publish) isEffect() {}
func (Record) isEffect()  {}
func (Warn) isEffect()    {}

// Status is a snapshot of the queue for subscribers.
type Status struct {
	State    State
	Track    model.TrackID
	Index    int // in the context's items, -1 when none
	Position time.Duration
	Frame    int64 // position in output frames
	Length   int64 // track length in output frames, 0 until known
	Tier     model.Tier
	Volume   float64
	Repeat   RepeatMode
	Shuffle  bool
	// Inserted: the current item was inserted by Smart Shuffle.
	Inserted bool
	// Err is a warning or error that came with this update (e.g.
	// ErrTierUnsustainable, or why a track was skipped); nil otherwise.
	// IsWarning tells the two apart.
	Err error
}

// IsWarning reports whether a Status.Err is a warning, after which
// playback went on as it was (ErrTierUnsustainable, ErrCrossfadeShortened,
// ErrEffectRemoved, ErrNotRemovable), rather than why a track failed and
// was skipped.
func IsWarning(err error) bool {
	for _, w := range []error{ErrTierUnsustainable, ErrCrossfadeShortened, ErrEffectRemoved, ErrNotRemovable} {
		if errors.Is(err, w) {
			return true
		}
	}
	return false
}

// QueueConfig configures a Queue.
type QueueConfig struct {
	Rate       int            // output sample rate, for durations
	Device     model.DeviceID // recorded in play events
	Tier       model.Tier
	NewID      func() string // play event ids (random 16 bytes hex in production)
	ShuffleRng *rand.Rand    // seeded for deterministic shuffles
}

// Queue is the player's pure control state machine: contexts, next/previous,
// repeat, shuffle, tier, seek and play-event accounting. Step takes the
// current time explicitly (from an injected clock) and returns effects;
// it performs no I/O. Not safe for concurrent use.
type Queue struct {
	cfg       QueueConfig
	ctx       model.PlayContext
	items     []Item
	order     []int // play order: indices into items
	pos       int   // index into order, -1 when none
	offline   bool
	state     State
	tier      model.Tier // applies from the next Load
	playTier  model.Tier // tier of the current play
	volume    float64
	repeat    RepeatMode
	shuffle   bool
	crossfade time.Duration

	load      uint64
	frames    int64 // current track length, 0 until Ready
	bitrate   int
	position  int64 // frames
	played    int64 // frames actually output in this play
	started   time.Time
	preloaded bool
	warned    bool
}

// NewQueue returns an idle queue.
func NewQueue(cfg QueueConfig) *Queue {
	if cfg.ShuffleRng == nil {
		cfg.ShuffleRng = rand.New(rand.NewPCG(1, 1))
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 44100
	}
	return &Queue{cfg: cfg, pos: -1, tier: cfg.Tier, volume: 1}
}

// Step applies ev at time now and returns the effects, in order.
func (q *Queue) Step(now time.Time, ev Event) []Effect {
	var fx []Effect
	switch e := ev.(type) {
	case PlayContext:
		fx = q.finish(now, fx, model.EndSkipped)
		q.ctx, q.items, q.offline = e.Context, append([]Item(nil), e.Items...), e.Offline
		if len(q.items) == 0 {
			q.state, q.pos = StateIdle, -1
			return append(fx, Halt{}, q.publish())
		}
		start := min(max(e.Start, 0), len(q.items)-1)
		q.pos = q.buildOrder(start)
		fx = q.start(now, fx, max(e.StartFrame, 0))
	case Pause:
		if q.state == StatePlaying || q.state == StateBuffering {
			q.state = StatePaused
			fx = append(fx, Output{Playing: false})
		}
	case Resume:
		if q.state == StatePaused {
			q.state = StatePlaying
			fx = append(fx, Output{Playing: true})
		}
	case Stop:
		fx = q.finish(now, fx, model.EndStopped)
		q.state, q.pos = StateIdle, -1
		fx = append(fx, Halt{})
	case Next:
		if q.pos < 0 {
			return nil
		}
		fx = q.finish(now, fx, model.EndSkipped)
		fx = q.advance(now, fx, true)
	case Previous:
		if q.pos < 0 {
			return nil
		}
		if q.posDuration() > RestartThreshold || q.pos == 0 && q.repeat != RepeatContext {
			q.position = 0
			fx = append(fx, SeekTo{Load: q.load, Frame: 0})
			break
		}
		fx = q.finish(now, fx, model.EndSkipped)
		q.pos = (q.pos - 1 + len(q.order)) % len(q.order)
		fx = q.start(now, fx, 0)
	case Seek:
		if q.pos < 0 {
			return nil
		}
		f := max(e.Frame, 0)
		if q.frames > 0 {
			f = min(f, q.frames)
		}
		q.position = f
		fx = append(fx, SeekTo{Load: q.load, Frame: f})
	case SetVolume:
		if !math.IsNaN(e.Gain) {
			q.volume = min(max(e.Gain, 0), 1)
			fx = append(fx, Volume{Gain: q.volume})
		}
	case SetRepeat:
		if e.Mode.valid() {
			q.repeat = e.Mode
		}
	case SetShuffle:
		if e.On != q.shuffle {
			q.shuffle = e.On
			if q.pos >= 0 {
				q.pos = q.buildOrder(q.order[q.pos])
			}
		}
	case SetTier:
		if e.Tier.Valid() {
			q.tier = e.Tier // from the next Load on
		}
	case SetCrossfade:
		q.crossfade = min(max(e.Duration, 0), MaxCrossfade)
	case Describe:
		q.describe(e.Infos)
		return nil
	case RemoveInserted:
		if err := q.removeInserted(e.Index); err != nil {
			fx = append(fx, Warn{Err: err})
		}
	case Ready:
		if e.Load != q.load {
			return nil
		}
		q.frames, q.bitrate = e.Frames, e.Bitrate
		if q.state == StateBuffering {
			q.state = StatePlaying
		}
		fx = q.maybePreload(fx)
	case Advanced:
		if e.Load != q.load || e.Frames <= 0 {
			return nil
		}
		q.position += e.Frames
		q.played += e.Frames
		fx = q.maybePreload(fx)
	case Ended:
		if e.Load != q.load {
			return nil
		}
		fx = q.finish(now, fx, model.EndCompleted)
		fx = q.advance(now, fx, false)
	case Failed:
		if e.Load != q.load {
			return nil
		}
		fx = q.finish(now, fx, model.EndError)
		fx = append(fx, Warn{Err: e.Err})
		fx = q.advance(now, fx, true)
	case Buffering:
		if e.Load != q.load {
			return nil
		}
		switch {
		case e.On && q.state == StatePlaying:
			q.state = StateBuffering
		case !e.On && q.state == StateBuffering && q.frames > 0:
			q.state = StatePlaying
		}
	case Bandwidth:
		if q.bitrate > 0 && !q.warned && e.BitsPerSecond < float64(q.bitrate)*1.1 {
			q.warned = true
			fx = append(fx, Warn{Err: ErrTierUnsustainable})
		}
	}
	return append(fx, q.publish())
}

// buildOrder sets the play order and returns the position of items[first]
// in it: context order without shuffle, or first followed by a smart
// shuffle of the others.
func (q *Queue) buildOrder(first int) int {
	q.order = q.order[:0]
	if !q.shuffle {
		for i := range q.items {
			q.order = append(q.order, i)
		}
		return first
	}
	rest := make([]shuffle.Item, 0, len(q.items))
	for i, it := range q.items {
		if i != first {
			rest = append(rest, shuffle.Item{ID: strconv.Itoa(i), Artist: string(it.Artist)})
		}
	}
	q.order = append(q.order, first)
	for _, it := range shuffle.Smart(rest, q.cfg.ShuffleRng) {
		i, _ := strconv.Atoi(it.ID)
		q.order = append(q.order, i)
	}
	return 0
}

// describe applies late artists and albums (Describe) and, with shuffle
// on, spreads the undecided rest of the order again when an artist
// changed.
func (q *Queue) describe(infos []ItemInfo) {
	respread := false
	for _, in := range infos {
		if in.Index < 0 || in.Index >= len(q.items) || q.items[in.Index].Track != in.Track {
			continue
		}
		it := &q.items[in.Index]
		respread = respread || it.Artist != in.Artist
		it.Artist, it.Album = in.Artist, in.Album
	}
	if !respread || !q.shuffle || q.pos < 0 {
		return
	}
	keep := q.pos + 1 // played and current
	if q.preloaded {
		keep++ // the next one is being fetched: it stays next
	}
	if keep >= len(q.order) {
		return
	}
	tail := q.order[keep:]
	rest := make([]shuffle.Item, len(tail))
	for k, i := range tail {
		rest[k] = shuffle.Item{ID: strconv.Itoa(i), Artist: string(q.items[i].Artist)}
	}
	for k, it := range shuffle.Smart(rest, q.cfg.ShuffleRng) {
		tail[k], _ = strconv.Atoi(it.ID)
	}
}

// maybePreload emits the Preload of the next track once the position
// reaches the preload point: 75 % of the track, or end − crossfade −
// PreloadMargin when that is earlier, so the next track is ready before
// the requested crossfade starts (see PreloadMargin), and a gapless one
// joins the chain before the resampler reads past the current track's
// end.
func (q *Queue) maybePreload(fx []Effect) []Effect {
	if q.preloaded || q.frames <= 0 {
		return fx
	}
	n, ok := q.peekNext()
	if !ok {
		if q.position*4 >= q.frames*3 {
			q.preloaded = true
		}
		return fx
	}
	fade := q.fadeBetween(q.cur(), q.items[n])
	lead := int64(fade+PreloadMargin) / int64(time.Millisecond) * int64(q.cfg.Rate) / 1000
	at := max(0, min(q.frames*3/4, q.frames-lead))
	if q.position < at {
		return fx
	}
	q.preloaded = true
	return append(fx, Preload{Track: q.items[n].Track, Tier: q.tier, Crossfade: fade, AlbumLoudness: q.items[n].AlbumLoudness})
}

// peekNext returns the item index that follows the current one.
func (q *Queue) peekNext() (int, bool) {
	switch {
	case q.repeat == RepeatTrack:
		return q.order[q.pos], true
	case q.pos+1 < len(q.order):
		return q.order[q.pos+1], true
	case q.repeat == RepeatContext:
		return q.order[0], true
	}
	return 0, false
}

// advance moves to the next track; a user skip overrides repeat-track.
func (q *Queue) advance(now time.Time, fx []Effect, user bool) []Effect {
	prev := q.cur()
	switch {
	case q.repeat == RepeatTrack && !user:
	case q.pos+1 < len(q.order):
		q.pos++
	case q.repeat == RepeatContext:
		q.pos = 0
	default:
		q.state, q.pos = StateEnded, -1
		return append(fx, Halt{})
	}
	fx = q.start(now, fx, 0)
	if !user {
		l := fx[len(fx)-1].(Load)
		l.Crossfade = q.fadeBetween(prev, q.cur())
		fx[len(fx)-1] = l
	}
	return fx
}

// fadeBetween returns the crossfade from prev to next: none between
// consecutive tracks of one album, which stay gapless.
func (q *Queue) fadeBetween(prev, next Item) time.Duration {
	if prev.Album != "" && prev.Album == next.Album {
		return 0
	}
	return q.crossfade
}

func (q *Queue) cur() Item {
	if q.pos < 0 {
		return Item{}
	}
	return q.items[q.order[q.pos]]
}

// start begins a play of the current item.
func (q *Queue) start(now time.Time, fx []Effect, frame int64) []Effect {
	q.load++
	q.frames, q.bitrate, q.position, q.played = 0, 0, frame, 0
	q.started, q.preloaded, q.warned, q.playTier = now, false, false, q.tier
	if q.state != StatePaused {
		q.state = StateBuffering
	}
	return append(fx, Load{Load: q.load, Track: q.cur().Track, Tier: q.tier, StartFrame: frame, AlbumLoudness: q.cur().AlbumLoudness})
}

// finish records the current play, if any.
func (q *Queue) finish(now time.Time, fx []Effect, end model.EndReason) []Effect {
	if q.pos < 0 || q.state == StateIdle || q.state == StateEnded {
		return fx
	}
	// Frames heard again after a seek back count once: Played is at most
	// the track's length, as the relay requires (played_exceeds_track).
	heard := q.played
	if q.frames > 0 {
		heard = min(heard, q.frames)
	}
	played := framesToDuration(heard, q.cfg.Rate)
	id := ""
	if q.cfg.NewID != nil {
		id = q.cfg.NewID()
	}
	c := q.ctx
	if q.cur().Inserted {
		c = model.PlayContext{Kind: ContextSmartShuffle, ID: q.ctx.ID}
	}
	ev := model.PlayEvent{
		EventID:  id,
		Device:   q.cfg.Device,
		TrackID:  q.cur().Track,
		Tier:     q.playTier,
		Context:  c,
		Started:  q.started,
		Played:   played,
		End:      end,
		Offline:  q.offline,
		IsStream: played >= model.StreamThreshold,
		Muted:    q.volume == 0,
	}
	q.played = 0
	return append(fx, Record{Event: ev})
}

// framesToDuration converts frames at rate to an exact duration (rounded
// down to the nanosecond) without overflow.
func framesToDuration(frames int64, rate int) time.Duration {
	r := int64(rate)
	return time.Duration(frames/r)*time.Second + time.Duration(frames%r*int64(time.Second)/r)
}

func (q *Queue) posDuration() time.Duration { return framesToDuration(q.position, q.cfg.Rate) }

func (q *Queue) publish() Publish {
	idx := -1
	if q.pos >= 0 {
		idx = q.order[q.pos]
	}
	return Publish{Status: Status{
		State: q.state, Track: q.cur().Track, Index: idx, Position: q.posDuration(),
		Frame: q.position, Length: q.frames, Tier: q.tier, Volume: q.volume, Repeat: q.repeat, Shuffle: q.shuffle,
		Inserted: q.pos >= 0 && q.cur().Inserted,
	}}
}

// removeInserted removes the inserted item at index i of the context's
// items, keeping the play order of the others and the current item.
func (q *Queue) removeInserted(i int) error {
	if i < 0 || i >= len(q.items) || !q.items[i].Inserted {
		return fmt.Errorf("%w: item %d", ErrNotRemovable, i)
	}
	if q.pos >= 0 && q.order[q.pos] == i {
		return fmt.Errorf("%w: item %d is playing (skip it with Next)", ErrNotRemovable, i)
	}
	q.items = slices.Delete(q.items, i, i+1)
	order := q.order[:0]
	for p, j := range q.order {
		switch {
		case j == i:
			if p < q.pos {
				q.pos--
			}
			continue
		case j > i:
			j--
		}
		order = append(order, j)
	}
	q.order = order
	q.preloaded = false // the next item may have been the removed one
	return nil
}
