package player

import (
	"context"
	"errors"
	"fmt"
)

// ErrEffectRemoved is the warning published (Status.Err, and logged) when
// an effect fails: the player removes it and plays on unprocessed. It
// wraps the effect's error (for a plugin: plugin.ErrTimeout, ErrTrap…).
var ErrEffectRemoved = errors.New("player: effect removed")

// AudioEffect processes the player's output in place: the mixed blocks,
// after loudness gain and crossfades and before the volume fader, as one
// continuous stream at the sink's format. Effects must keep the length
// (no latency, no added or dropped frames), which is what keeps playback
// gapless and sample-exact with effects on. *plugin.Instance (package
// player/plugin, WebAssembly plugins under wazero) implements it.
//
// Effects are not owned by the player: close them after it.
type AudioEffect interface {
	// Name identifies the effect in logs and errors.
	Name() string
	// Format returns the sample rate and channel count the effect runs
	// at; the player refuses an effect whose format is not the sink's.
	Format() (rate, channels int)
	// Process transforms len(frames)/channels whole frames in place. On
	// error it must leave frames unchanged; the player then removes the
	// effect, publishes ErrEffectRemoved and goes on without it.
	Process(ctx context.Context, frames []float32) error
}

// applyEffects runs the effects over one output block, removing any that
// fails.
func (p *Player) applyEffects(out []float32) {
	for k := 0; k < len(p.effects); {
		fx := p.effects[k]
		err := fx.Process(p.ctx, out)
		if err == nil {
			k++
			continue
		}
		if p.ctx.Err() != nil {
			return // closing: the block is not played anyway
		}
		p.effects = append(p.effects[:k:k], p.effects[k+1:]...)
		err = fmt.Errorf("%w: %s: %w", ErrEffectRemoved, fx.Name(), err)
		p.log.Warn("player: effect removed, playing on without it", "effect", fx.Name(), "err", err)
		st := p.status
		st.Err = err
		p.publish(st)
	}
}
