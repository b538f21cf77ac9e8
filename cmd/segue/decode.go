package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
)

func init() {
	register("decode", "decode an Ogg Vorbis file to WAV with the pure-Go decoder", runDecode)
}

// runDecode implements `segue decode [--format s16|s24|f32] IN.ogg OUT.wav`.
// OUT "-" writes to stdout (WAV sizes then stay unpatched).
func runDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "s16", "output sample format: s16, s24 or f32")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue decode [--format s16|s24|f32] IN.ogg OUT.wav")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("%w: want IN.ogg OUT.wav", errUsage)
	}
	f, err := wav.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	in, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer in.Close()
	var out io.Writer = stdout
	if fs.Arg(1) != "-" {
		o, err := os.Create(fs.Arg(1))
		if err != nil {
			return err
		}
		defer o.Close()
		out = o
	}
	info, frames, err := vorbis.DecodeWAV(ctx, out, in, f, vorbis.DefaultOptions().WithMaxChannels(255))
	if err != nil {
		return fmt.Errorf("decode %s: %w", fs.Arg(0), err)
	}
	if c, ok := out.(io.Closer); ok && out != stdout {
		if err := c.Close(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "%s: %d Hz, %d channels, %d frames (%s)\n", fs.Arg(0), info.SampleRate, info.Channels, frames, f)
	return nil
}
