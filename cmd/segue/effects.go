package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/plugin"
)

// effectFlags are `segue play`'s --effect and --effect-param: each
// --effect-param applies to the --effect before it.
type effectFlags struct {
	specs []effectSpec
	bound time.Duration
}

type effectSpec struct {
	path   string
	params []plugin.Param
}

func addEffectFlags(fs *flag.FlagSet) *effectFlags {
	f := &effectFlags{}
	fs.DurationVar(&f.bound, "effect-bound", plugin.DefaultOptions().BlockTimeout(), "time bound on each block an effect plugin processes; a plugin past it is unloaded and playback goes on without it")
	fs.Func("effect", "apply an effect plugin (.wasm implementing Segue's plugin ABI, e.g. examples/eq) to the output; repeatable, applied in order", func(s string) error {
		if s == "" {
			return errors.New("empty path")
		}
		f.specs = append(f.specs, effectSpec{path: s})
		return nil
	})
	fs.Func("effect-param", "set a parameter of the preceding --effect: key=value (e.g. band3=+4, preamp=-3); repeatable", func(s string) error {
		if len(f.specs) == 0 {
			return errors.New("--effect-param before any --effect")
		}
		p, err := plugin.ParseParam(s)
		if err != nil {
			return err
		}
		last := &f.specs[len(f.specs)-1]
		last.params = append(last.params, p)
		return nil
	})
	return f
}

// load compiles (or takes from the disk cache) and instantiates the
// effects at the sink's format. close releases them; call it after the
// player is closed.
func (f *effectFlags) load(ctx context.Context, rate, channels int) (fx []player.AudioEffect, close func(), err error) {
	if len(f.specs) == 0 {
		return nil, func() {}, nil
	}
	if f.bound <= 0 {
		return nil, nil, fmt.Errorf("%w: --effect-bound %v: want > 0", errUsage, f.bound)
	}
	rt, err := plugin.NewRuntime(ctx, plugin.DefaultOptions().WithBlockTimeout(f.bound))
	if err != nil {
		return nil, nil, err
	}
	var insts []*plugin.Instance
	close = func() {
		for _, in := range insts {
			in.Close()
		}
		rt.Close(context.Background())
	}
	for _, s := range f.specs {
		wasm, err := readPlugin(s.path)
		if err != nil {
			close()
			return nil, nil, err
		}
		p, err := rt.Compile(ctx, filepath.Base(s.path), wasm)
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("--effect %s: %w", s.path, err)
		}
		in, err := p.Instantiate(ctx, rate, channels, s.params...)
		if err != nil {
			close()
			return nil, nil, fmt.Errorf("--effect %s: %w", s.path, err)
		}
		insts = append(insts, in)
		fx = append(fx, in)
	}
	return fx, close, nil
}

// readPlugin reads a .wasm file of at most plugin.MaxModuleBytes.
func readPlugin(path string) ([]byte, error) {
	fh, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("--effect %s: %w", path, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, plugin.MaxModuleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--effect %s: read: %w", path, err)
	}
	if len(b) > plugin.MaxModuleBytes {
		return nil, fmt.Errorf("--effect %s: %w: larger than %d bytes", path, plugin.ErrInvalidModule, plugin.MaxModuleBytes)
	}
	return b, nil
}
