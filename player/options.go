package player

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player/vorbis"
)

// History receives the play events the player records. The engine
// implements it over its store's history queue.
type History interface {
	// Append stores ev durably; it is called from the player's goroutine
	// and should return quickly.
	Append(ctx context.Context, ev model.PlayEvent) error
}

// Options configure a Player. The zero value is not useful: start from
// DefaultOptions and chain WithX methods; each returns a modified copy.
type Options struct {
	tier            model.Tier
	gain            GainOptions
	device          model.DeviceID
	history         History
	clock           func() time.Time
	logger          *slog.Logger
	newID           func() string
	rng             *rand.Rand
	blockFrames     int
	predecodeBlocks int
	fetchTimeout    time.Duration
	stallTimeout    time.Duration
	retryMin        time.Duration
	retryMax        time.Duration
	effects         []AudioEffect
	setups          *vorbis.SetupCache
}

// DefaultOptions returns: tier high, track loudness normalisation
// (DefaultGainOptions), no device id, no history (play events are only
// published), time.Now, slog.Default(), random event ids, a randomly
// seeded shuffle, 1024-frame output blocks, up to 48 decoded blocks of
// 4096 frames pre-decoded per track (≈ 4.5 s at 44.1 kHz), a 10 s bound on
// each fetch attempt, retries every 50 ms growing to 1 s (at least the
// relay's Retry-After after a 429/503, at most 5 min), a track given
// up (skipped with an error) after 30 s of failing fetches, no effects,
// and a cache of DefaultSetupCache parsed Vorbis setup headers.
func DefaultOptions() Options {
	return Options{
		tier: model.TierHigh, gain: DefaultGainOptions(), clock: time.Now, logger: slog.Default(),
		blockFrames: 1024, predecodeBlocks: 48, fetchTimeout: 10 * time.Second,
		stallTimeout: 30 * time.Second, retryMin: 50 * time.Millisecond, retryMax: time.Second,
		setups: vorbis.NewSetupCache(DefaultSetupCache),
	}
}

// DefaultSetupCache is how many parsed Vorbis setup headers
// DefaultOptions keeps. An encoder writes one setup per mode, sample rate
// and channel count, so the tracks of one tier of an album (and of most
// of a library encoded alike) share one; four hold the tier playing, one
// it is switched to and two other encodings among the tracks queued or
// prefetched. A setup's tables take 0.25–0.5 MB (the demo album's four
// tiers), so the cache stays under 2 MB.
const DefaultSetupCache = 4

// WithSetupCache sets how many parsed Vorbis setup headers the player's
// decoders share (default DefaultSetupCache; 0 or less: none, every
// track parses its own). A track whose setup header is cached skips
// parsing it (≈ 1 ms native, several ms in a browser) before its first
// frames. The cache is made here and shared by every copy of the
// returned Options and every decoder of players opened with them; it is
// safe for concurrent use. Decoding is bit-identical either way.
func (o Options) WithSetupCache(n int) Options {
	o.setups = nil
	if n > 0 {
		o.setups = vorbis.NewSetupCache(n)
	}
	return o
}

// WithTier sets the initial tier (default model.TierHigh).
func (o Options) WithTier(t model.Tier) Options { o.tier = t; return o }

// Tier returns the initial tier WithTier set.
func (o Options) Tier() model.Tier { return o.tier }

// WithGain sets loudness normalisation (default DefaultGainOptions: each
// track to −14 LUFS, true-peak limited).
func (o Options) WithGain(g GainOptions) Options { o.gain = g; return o }

// WithDevice sets the device id recorded in play events (default "").
func (o Options) WithDevice(d model.DeviceID) Options { o.device = d; return o }

// WithHistory sets where play events are appended (default: nowhere).
func (o Options) WithHistory(h History) Options { o.history = h; return o }

// WithClock sets the clock for play-event times (default time.Now).
func (o Options) WithClock(now func() time.Time) Options {
	if now != nil {
		o.clock = now
	}
	return o
}

// WithLogger sets the logger (default slog.Default()); nil keeps it.
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithEventIDs sets the generator of play-event ids (default random 16
// bytes in hex).
func (o Options) WithEventIDs(newID func() string) Options { o.newID = newID; return o }

// WithShuffleRand sets the generator of shuffles, for reproducible orders
// (default seeded randomly).
func (o Options) WithShuffleRand(r *rand.Rand) Options { o.rng = r; return o }

// WithBlockFrames sets how many frames go to the sink per Write (default
// 1024; clamped to [64, 65536]).
func (o Options) WithBlockFrames(n int) Options { o.blockFrames = min(max(n, 64), 65536); return o }

// BlockFrames returns the frames of each block the player writes to its
// sink (WithBlockFrames; default 1024): a sink that stages writes can
// size its buffer for them up front.
func (o Options) BlockFrames() int { return o.blockFrames }

// WithPredecode sets how many 4096-frame blocks each track decodes ahead
// of playback (default 48; at least 2).
func (o Options) WithPredecode(blocks int) Options { o.predecodeBlocks = max(blocks, 2); return o }

// WithStallTimeout sets how long fetches of one object may keep failing
// before the track is skipped with an error (default 30 s; 0: at the
// first failure; New refuses a negative one with ErrOptions).
func (o Options) WithStallTimeout(d time.Duration) Options { o.stallTimeout = d; return o }

// WithFetchTimeout bounds each fetch attempt (default 10 s; New refuses
// 0 or less with ErrOptions).
func (o Options) WithFetchTimeout(d time.Duration) Options { o.fetchTimeout = d; return o }

// WithEffects sets the effects applied, in order, to the output before
// the volume fader (default none). Each must run at the sink's format. An
// effect that fails is removed and playback goes on without it
// (ErrEffectRemoved).
func (o Options) WithEffects(fx ...AudioEffect) Options {
	o.effects = append([]AudioEffect(nil), fx...)
	return o
}

// SetupCache returns the setup cache the player's decoders share, nil
// when WithSetupCache disabled it: for its Stats, or to let other
// decoders of the same streams (a prefetch) share it.
func (o Options) SetupCache() *vorbis.SetupCache { return o.setups }
