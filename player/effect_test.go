package player_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/examples/eq/dsp"
	"github.com/segue-fm/segue/internal/wasmbuild"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/plugin"
)

func effectOpts() player.Options {
	return player.DefaultOptions().WithTier(model.TierHigh).WithGain(player.DefaultGainOptions().WithMode(player.GainOff)).
		WithShuffleRand(rand.New(rand.NewPCG(1, 2)))
}

// loadPlugin builds and loads a plugin with the block time bound.
func loadPlugin(t *testing.T, dir string, bound time.Duration, params ...plugin.Param) *plugin.Instance {
	t.Helper()
	ctx := context.Background()
	rt, err := plugin.NewRuntime(ctx, plugin.DefaultOptions().WithCacheDir(wasmbuild.CacheDir()+"/wazero").WithBlockTimeout(bound))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close(ctx) })
	p, err := rt.Compile(ctx, dir, wasmbuild.ForTest(t, dir, "examples/eq/dsp"))
	if err != nil {
		t.Fatal(err)
	}
	inst, err := p.Instantiate(ctx, 44100, 2, params...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close() })
	return inst
}

// The album played through the equaliser plugin is the album played
// without it, equalised in one pass by the native build of the same
// code: same length, same samples bit for bit, so the effect stage keeps
// playback gapless and sample-exact (its filters run on across tracks).
func TestEffectStageIsSampleExact(t *testing.T) {
	src, ids := newMemSource(t)
	ref, _ := playToWAV(t, src, effectOpts(), albumItems(ids), nil)
	params := []plugin.Param{{Key: "preamp", Value: -2}, {Key: "band3", Value: 4}, {Key: "band8", Value: -6}}
	// A generous bound: this test is about samples, not timing.
	inst := loadPlugin(t, "examples/eq", 10*time.Second, params...)
	got, _ := playToWAV(t, src, effectOpts().WithEffects(inst), albumItems(ids), nil)
	if len(got) != len(ref) {
		t.Fatalf("%d samples with the effect, %d without", len(got), len(ref))
	}
	eq, _ := dsp.New(44100, 2)
	for _, pr := range params {
		if err := eq.SetParam(pr.Key, pr.Value); err != nil {
			t.Fatal(err)
		}
	}
	want := append([]float32(nil), ref...)
	eq.Process(want)
	changed := 0
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d (frame %d): %v, the equalised album has %v", i, i/2, got[i], want[i])
		}
		if got[i] != ref[i] {
			changed++
		}
	}
	if changed < len(ref)/2 {
		t.Fatalf("the equaliser changed only %d of %d samples", changed, len(ref))
	}
	if err := inst.Err(); err != nil {
		t.Fatal(err)
	}
}

// A plugin that starts looping forever after 20 blocks is unloaded within
// its time bound; the player publishes ErrEffectRemoved wrapping
// plugin.ErrTimeout and plays on unprocessed: the first 20 blocks are
// processed (halved), the rest is the album untouched, and nothing is
// lost or repeated.
func TestLoopingPluginRemovedPlaybackContinues(t *testing.T) {
	src, ids := newMemSource(t)
	ref, _ := playToWAV(t, src, effectOpts(), albumItems(ids), nil)
	inst := loadPlugin(t, "player/plugin/testdata/bad", plugin.DefaultOptions().BlockTimeout(), plugin.Param{Key: "after", Value: 20}, plugin.Param{Key: "mode", Value: 1})
	var removed []error
	got, _ := playToWAV(t, src, effectOpts().WithEffects(inst), albumItems(ids), func(p *player.Player, st player.Status) {
		if errors.Is(st.Err, player.ErrEffectRemoved) {
			removed = append(removed, st.Err)
		}
	})
	if len(removed) != 1 || !errors.Is(removed[0], plugin.ErrTimeout) {
		t.Fatalf("published %v, want one ErrEffectRemoved wrapping plugin.ErrTimeout", removed)
	}
	t.Log(removed[0])
	if len(got) != len(ref) {
		t.Fatalf("%d samples with the failing effect, %d without", len(got), len(ref))
	}
	const processed = 20 * 1024 * 2
	for i := range ref {
		want := ref[i]
		if i < processed {
			want *= 0.5
		}
		if got[i] != want {
			t.Fatalf("sample %d: %v, want %v", i, got[i], want)
		}
	}
}

type fakeEffect struct{ rate, ch int }

func (f fakeEffect) Name() string                             { return "fake" }
func (f fakeEffect) Format() (int, int)                       { return f.rate, f.ch }
func (f fakeEffect) Process(context.Context, []float32) error { return nil }

func TestEffectFormatMustMatchSink(t *testing.T) {
	src, _ := newMemSource(t)
	for _, fx := range []fakeEffect{{48000, 2}, {44100, 1}} {
		_, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithEffects(fx))
		if !errors.Is(err, player.ErrFormat) {
			t.Fatalf("%v: %v, want ErrFormat", fx, err)
		}
	}
	p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithEffects(fakeEffect{44100, 2}))
	if err != nil {
		t.Fatal(err)
	}
	p.Close()
}
