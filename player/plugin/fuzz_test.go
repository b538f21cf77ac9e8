package plugin_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/segue-fm/segue/player/plugin"
)

// FuzzCompile feeds arbitrary bytes to Compile: it never panics, refuses
// with ErrInvalidModule, or yields a plugin that loads and processes a
// block within the bounds or fails with one of the package's errors.
func FuzzCompile(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(abiModule(1, []byte{0x41, 0}))
	f.Add(abiModule(1, []byte{0x00}))
	f.Add(abiModule(2, []byte{0x41, 0}))
	f.Add(assemble(wasmParts{version: 1, processType: 0, memMin: 4}))
	rt, err := plugin.NewRuntime(context.Background(), plugin.DefaultOptions().WithCacheDir("").
		WithMemoryLimit(64).WithBlockTimeout(20*time.Millisecond).WithSetupTimeout(100*time.Millisecond))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { rt.Close(context.Background()) })
	known := []error{plugin.ErrInvalidModule, plugin.ErrABIVersion, plugin.ErrFormat, plugin.ErrParam,
		plugin.ErrTimeout, plugin.ErrTrap, plugin.ErrBadOutput}
	isKnown := func(err error) bool {
		for _, k := range known {
			if errors.Is(err, k) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, wasm []byte) {
		ctx := context.Background()
		p, err := rt.Compile(ctx, "fuzz", wasm)
		if err != nil {
			if !errors.Is(err, plugin.ErrInvalidModule) {
				t.Fatalf("Compile: %v is not ErrInvalidModule", err)
			}
			return
		}
		defer p.Close(ctx)
		inst, err := p.Instantiate(ctx, 44100, 2)
		if err != nil {
			if !isKnown(err) {
				t.Fatalf("Instantiate: unclassified error %v", err)
			}
			return
		}
		defer inst.Close()
		block := make([]float32, 256)
		if err := inst.Process(ctx, block); err != nil && !isKnown(err) {
			t.Fatalf("Process: unclassified error %v", err)
		}
	})
}

// FuzzParseParam: ParseParam never panics, and what it accepts is a valid
// key with a finite value that formats back to an accepted setting.
func FuzzParseParam(f *testing.F) {
	for _, s := range []string{"band3=+4", "preamp=-3.5", "band7.freq=2.5e3", "=", "a=NaN", "k=1e400"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := plugin.ParseParam(s)
		if err != nil {
			if !errors.Is(err, plugin.ErrParam) {
				t.Fatalf("%q: %v is not ErrParam", s, err)
			}
			return
		}
		if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
			t.Fatalf("%q: value %v", s, p.Value)
		}
		q, err := plugin.ParseParam(fmt.Sprintf("%s=%v", p.Key, p.Value))
		if err != nil || q != p {
			t.Fatalf("%q: %v does not round-trip: %v, %v", s, p, q, err)
		}
	})
}
