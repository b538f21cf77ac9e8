package plugin_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/segue-fm/segue/examples/eq/dsp"
	"github.com/segue-fm/segue/internal/cputime"
	"github.com/segue-fm/segue/player/plugin"
)

// blockFrames is the player's default output block: 1024 frames, 23.2 ms
// of real time at 44.1 kHz.
const blockFrames = 1024

var blockDuration = time.Duration(blockFrames) * time.Second / rate

// eqBench sets every band (so all ten filters run) and the preamp.
var eqBench = func() []plugin.Param {
	ps := []plugin.Param{{Key: "preamp", Value: -3}}
	for b := 1; b <= dsp.Bands; b++ {
		ps = append(ps, plugin.Param{Key: fmt.Sprintf("band%d", b), Value: float64(b%5) - 2.5})
	}
	return ps
}()

func benchBlock() []float32 {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 2*blockFrames)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * 0.1)
	}
	return x
}

// timer measures a benchmark loop in wall time and in the CPU time of
// its (locked) thread.
type timer struct {
	wall time.Time
	cpu  time.Duration
}

func startTimer(b *testing.B) timer {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	b.ResetTimer()
	cpu, _ := cputime.Thread()
	return timer{wall: time.Now(), cpu: cpu}
}

// report reports the time per block as a percentage of the block's
// real-time duration: %realtime (wall) and %realtime-cpu (thread CPU
// time, insensitive to waiting for a core on a loaded machine).
func (t timer) report(b *testing.B) {
	wall := time.Since(t.wall)
	b.ReportMetric(100*float64(wall)/float64(b.N)/float64(blockDuration), "%realtime")
	if cpu, ok := cputime.Thread(); ok {
		b.ReportMetric(100*float64(cpu-t.cpu)/float64(b.N)/float64(blockDuration), "%realtime-cpu")
	}
}

// The 10-band equaliser plugin under wazero, per 1024-frame stereo block,
// with the host's per-call work (copy in, bounded call, copy out, finite
// check).
func BenchmarkEQWazero(b *testing.B) {
	inst, err := compile(b, sharedRuntime(b, 1024), "eq", eqWasm(b)).Instantiate(context.Background(), rate, 2, eqBench...)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close()
	x := benchBlock()
	ctx := context.Background()
	t := startTimer(b)
	for range b.N {
		if err := inst.Process(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	t.report(b)
}

// The same equaliser compiled natively: the reference.
func BenchmarkEQNative(b *testing.B) {
	eq, _ := dsp.New(rate, 2)
	for _, p := range eqBench {
		if err := eq.SetParam(p.Key, p.Value); err != nil {
			b.Fatal(err)
		}
	}
	x := benchBlock()
	t := startTimer(b)
	for range b.N {
		eq.Process(x)
	}
	t.report(b)
}

// A plugin whose segue_process returns at once: the host's per-block
// overhead alone (copies, deadline context, the call into wazero).
func BenchmarkCallOverheadWazero(b *testing.B) {
	inst, err := compile(b, sharedRuntime(b, 1024), "pass", badWasm(b)).Instantiate(context.Background(), rate, 2)
	if err != nil {
		b.Fatal(err)
	}
	defer inst.Close()
	x := benchBlock()
	ctx := context.Background()
	t := startTimer(b)
	for range b.N {
		if err := inst.Process(ctx, x); err != nil {
			b.Fatal(err)
		}
	}
	t.report(b)
}
