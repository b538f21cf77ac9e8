package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
)

func init() {
	register("decode", "decode an Ogg Vorbis file to WAV with the pure-Go decoder", runDecode)
}

// runDecode implements `segue decode [--format s16|s24|f32] [--strict]
// IN.ogg OUT.wav`. OUT is written under a temporary name and renamed into
// place once the decode succeeded, so a failure leaves OUT as it was; OUT
// "-" writes to stdout (WAV sizes then stay unpatched). A damaged input
// (corrupt or missing pages) is decoded as far as it is intact, with a
// warning, or refused with --strict; so is one whose samples decode to
// NaN or beyond ±16 (written as 0 or ±16).
func runDecode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("decode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "s16", "output sample format: s16, s24 or f32")
	strict := fs.Bool("strict", false, "fail on a damaged input (corrupt or missing Ogg pages, or samples no encoder writes) instead of decoding it with a warning")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue decode [--format s16|s24|f32] [--strict] IN.ogg OUT.wav")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return fmt.Errorf("%w: want IN.ogg OUT.wav", errUsage)
	}
	f, err := wav.ParseFormat(*format)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	inPath, outPath := pos[0], pos[1]
	in, err := os.Open(inPath)
	if err != nil {
		return err
	}
	defer in.Close()
	if outPath != "-" {
		if err := notSameFile(in, outPath); err != nil {
			return err
		}
	}
	var out io.Writer = stdout
	var pending *pendingFile
	if outPath != "-" {
		if pending, err = createPending(outPath); err != nil {
			return err
		}
		defer pending.Discard()
		out = pending
	}
	res, err := vorbis.DecodeWAV(ctx, out, in, f, vorbis.DefaultOptions().WithMaxChannels(255))
	if err != nil {
		return fmt.Errorf("decode %s: %w", inPath, err)
	}
	if d := res.Damage; d.Damaged() {
		what := fmt.Sprintf("%d bytes skipped, %d gaps in the page sequence", d.SkippedBytes, d.Holes)
		if d.Truncated {
			what += ", cut short (ends inside a page or packet)"
		}
		if *strict {
			return fmt.Errorf("decode %s: %w: %s", inPath, errDamaged, what)
		}
		fmt.Fprintf(stderr, "warning: %s is damaged: %s; the audio there is missing from the output\n", inPath, what)
	}
	if res.Clamped > 0 {
		what := fmt.Sprintf("%d samples decode to NaN or beyond ±16, which no encoder writes (a crafted or damaged setup header)", res.Clamped)
		if *strict {
			return fmt.Errorf("decode %s: %w: %s", inPath, errDamaged, what)
		}
		fmt.Fprintf(stderr, "warning: %s: %s; they are written as silence or ±16\n", inPath, what)
	}
	if pending != nil {
		if err := pending.Commit(); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "%s: %d Hz, %d channels, %d frames (%s)\n", inPath, res.Info.SampleRate, res.Info.Channels, res.Frames, f)
	return nil
}

// errDamaged reports an input with corrupt or missing pages under
// --strict.
var errDamaged = errors.New("damaged input")

// notSameFile refuses an output path naming the open input file.
func notSameFile(in *os.File, outPath string) error {
	ist, err := in.Stat()
	if err != nil {
		return err
	}
	ost, err := os.Stat(outPath)
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if os.SameFile(ist, ost) {
		return fmt.Errorf("%w: output %s is the input file", errUsage, outPath)
	}
	return nil
}
