package player_test

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// TestNaNVolumeAndGain: a NaN volume or gain option would turn every
// sample into NaN. SetVolume refuses it, a SetVolume event carrying it
// leaves the volume as it was, and New refuses NaN gain options.
func TestNaNVolumeAndGain(t *testing.T) {
	src, ids := newMemSource(t)
	opts := player.DefaultOptions().WithGain(player.DefaultGainOptions().WithMode(player.GainOff))
	var setErr error
	set := false
	got, _ := playToWAV(t, src, opts, albumItems(ids[:1]), func(p *player.Player, st player.Status) {
		if !set && st.State == player.StatePlaying {
			set = true
			setErr = p.SetVolume(math.NaN())
			if err := p.Send(player.SetVolume{Gain: math.NaN()}); err != nil {
				t.Errorf("Send(SetVolume{NaN}): %v", err)
			}
		}
	})
	if !errors.Is(setErr, player.ErrBadVolume) {
		t.Errorf("SetVolume(NaN) = %v, want ErrBadVolume", setErr)
	}
	silent := true
	for i, v := range got {
		if math.IsNaN(float64(v)) {
			t.Fatalf("sample %d is NaN", i)
		}
		silent = silent && v == 0
	}
	if silent {
		t.Fatal("the output is silent: the volume did not stay at 1")
	}

	for name, g := range map[string]player.GainOptions{
		"preamp": player.DefaultGainOptions().WithPreamp(math.NaN()),
		"max":    player.DefaultGainOptions().WithMaxGain(math.NaN()),
	} {
		if _, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithGain(g)); !errors.Is(err, player.ErrGainOptions) {
			t.Errorf("%s NaN: New = %v, want ErrGainOptions", name, err)
		}
	}
}

// TestNewNilSourceOrSink: New refuses a nil Source or Sink with
// ErrNoSink (it panicked on the sink's Format).
func TestNewNilSourceOrSink(t *testing.T) {
	src, _ := newMemSource(t)
	if _, err := player.New(src, nil, player.DefaultOptions()); !errors.Is(err, player.ErrNoSink) {
		t.Errorf("New(src, nil) = %v, want ErrNoSink", err)
	}
	if _, err := player.New(nil, player.NewDiscardSink(44100, 2), player.DefaultOptions()); !errors.Is(err, player.ErrNoSink) {
		t.Errorf("New(nil, sink) = %v, want ErrNoSink", err)
	}
}

// TestControlsRefuseBadValues: SetTier and SetRepeat refuse what the
// queue would ignore, so the app learns its call did nothing, and the
// queue keeps its setting when an event carries such a value.
func TestControlsRefuseBadValues(t *testing.T) {
	src, _ := newMemSource(t)
	p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetTier("bogus"); !errors.Is(err, model.ErrInvalidTier) {
		t.Errorf("SetTier(bogus) = %v, want model.ErrInvalidTier", err)
	}
	for _, m := range []player.RepeatMode{-1, player.RepeatTrack + 1} {
		if err := p.SetRepeat(m); !errors.Is(err, player.ErrBadRepeat) {
			t.Errorf("SetRepeat(%d) = %v, want ErrBadRepeat", m, err)
		}
	}
	if err := p.SetRepeat(player.RepeatTrack); err != nil {
		t.Fatal(err)
	}
	q := player.NewQueue(player.QueueConfig{Rate: 44100, Tier: model.TierHigh})
	now := time.Unix(0, 0)
	q.Step(now, player.SetRepeat{Mode: player.RepeatContext})
	fx := q.Step(now, player.SetRepeat{Mode: 7})
	if st := fx[len(fx)-1].(player.Publish).Status; st.Repeat != player.RepeatContext {
		t.Errorf("after SetRepeat{7}: repeat %d, want RepeatContext", st.Repeat)
	}
}

// TestNewRefusesBadTimeouts: a fetch timeout of 0 or less made every
// fetch fail at once, so nothing played and each track failed after the
// stall timeout with "context deadline exceeded"; New refuses it (and a
// negative stall timeout, and options not made by DefaultOptions) with
// ErrOptions.
func TestNewRefusesBadTimeouts(t *testing.T) {
	src, _ := newMemSource(t)
	for name, o := range map[string]player.Options{
		"fetch 0":        player.DefaultOptions().WithFetchTimeout(0),
		"fetch negative": player.DefaultOptions().WithFetchTimeout(-time.Second),
		"stall negative": player.DefaultOptions().WithStallTimeout(-time.Second),
		"zero value":     {},
	} {
		if _, err := player.New(src, player.NewDiscardSink(44100, 2), o); !errors.Is(err, player.ErrOptions) {
			t.Errorf("%s: New = %v, want ErrOptions", name, err)
		}
	}
	p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithStallTimeout(0))
	if err != nil {
		t.Fatalf("stall timeout 0: %v", err)
	}
	p.Close()
}
