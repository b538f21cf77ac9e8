package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/wav"
)

func init() {
	register("play", "play a track or album from a relay to a WAV file, with a progress line", runPlay)
}

// runPlay implements
// `segue play --relay URL --user U --pass P [--tier high] [--data DIR] [--out FILE.wav] track|album ID`.
// This build has no audio-device sink, so the audio goes to the WAV file.
func runPlay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relayURL := fs.String("relay", "http://127.0.0.1:7474", "relay base URL")
	user := fs.String("user", "", "account username")
	pass := fs.String("pass", "", "account password (or $SEGUE_PASSWORD)")
	tierName := fs.String("tier", string(model.TierHigh), "tier: low, normal, high or very_high")
	home, _ := os.UserHomeDir()
	data := fs.String("data", filepath.Join(home, ".segue"), "engine data directory")
	out := fs.String("out", "segue-play.wav", "output WAV file (no audio-device sink in this build)")
	crossfade := fs.Duration("crossfade", 0, "crossfade between tracks of different albums (0–12s)")
	noNorm := fs.Bool("no-normalize", false, "disable loudness normalisation to −14 LUFS")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue play --relay URL --user U --pass P [--tier high] [--out FILE.wav] track|album ID")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 2 || (fs.Arg(0) != "track" && fs.Arg(0) != "album") {
		fs.Usage()
		return fmt.Errorf("%w: want track|album ID", errUsage)
	}
	tier, err := model.ParseTier(*tierName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *pass == "" {
		*pass = os.Getenv("SEGUE_PASSWORD")
	}
	e, err := core.Open(ctx, *data, core.DefaultOptions().WithOrigins(*relayURL))
	if err != nil {
		return err
	}
	defer e.Close()
	if e.Token() == "" {
		if *user == "" || *pass == "" {
			return fmt.Errorf("%w: --user and --pass are needed to register this device", errUsage)
		}
		if err := e.Register(ctx, *user, *pass, "segue play"); err != nil {
			return err
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	defer f.Close()
	sink, err := player.NewWAVSink(f, 44100, 2, wav.S16)
	if err != nil {
		return err
	}
	opts := player.DefaultOptions().WithTier(tier)
	if *noNorm {
		opts = opts.WithGain(player.DefaultGainOptions().WithMode(player.GainOff))
	}
	p, err := e.OpenPlayer(sink, opts)
	if err != nil {
		return err
	}
	defer e.ClosePlayer()
	if err := p.SetCrossfade(*crossfade); err != nil {
		return err
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	if fs.Arg(0) == "album" {
		err = e.PlayAlbum(ctx, model.AlbumID(fs.Arg(1)), 0)
	} else {
		err = e.PlayTrack(ctx, model.TrackID(fs.Arg(1)))
	}
	if err != nil {
		return err
	}
	var failed error
	if failed, err = progress(ctx, sub, stderr); err != nil {
		return err
	}
	if err := e.ClosePlayer(); err != nil {
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d frames (%s)\n", *out, sink.Frames(), (time.Duration(sink.Frames()) * time.Second / 44100).Round(time.Millisecond))
	if failed != nil {
		return fmt.Errorf("some tracks were skipped: %w", failed)
	}
	return nil
}

// progress prints a progress line per status until the queue ends, and
// returns the last track error seen.
func progress(ctx context.Context, sub <-chan player.Status, w io.Writer) (error, error) {
	var last error
	started := false
	names := map[player.State]string{player.StateIdle: "idle", player.StateBuffering: "buffering",
		player.StatePlaying: "playing", player.StatePaused: "paused", player.StateEnded: "ended"}
	var shown time.Time
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case st, ok := <-sub:
			if !ok {
				return last, errors.New("play: player closed")
			}
			if st.Err != nil {
				last = st.Err
				fmt.Fprintf(w, "\nwarning: %v\n", st.Err)
			}
			started = started || st.State == player.StateBuffering || st.State == player.StatePlaying
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				fmt.Fprintln(w, "\rended"+fmt.Sprintf("%60s", ""))
				return last, nil
			}
			if time.Since(shown) < 100*time.Millisecond && st.Err == nil {
				continue
			}
			shown = time.Now()
			length := time.Duration(st.Length) * time.Second / 44100
			fmt.Fprintf(w, "\r%-9s track %d  %s / %s  [%s]   ", names[st.State], st.Index+1,
				st.Position.Round(100*time.Millisecond), length.Round(100*time.Millisecond), st.Tier)
		}
	}
}
