package social_test

import (
	"context"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// realtimeSink discards audio at real time, so a track stays current
// while the test watches.
type realtimeSink struct{ *player.DiscardSink }

func (s realtimeSink) Write(ctx context.Context, frames []float32) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Duration(len(frames)/2) * time.Second / 44100):
	}
	return s.DiscardSink.Write(ctx, frames)
}

func newSlowSink() player.Sink { return realtimeSink{player.NewDiscardSink(44100, 2)} }

func playerOptions() player.Options { return player.DefaultOptions().WithTier(model.TierLow) }
