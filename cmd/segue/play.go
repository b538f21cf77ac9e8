package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/alsa"
	"github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/sync/docs"
)

func init() {
	register("play", "play a track, album or playlist from a relay to the audio device (or a WAV file), with a progress line", runPlay)
}

// outputSink is where segue play sends audio: the ALSA device or a WAV
// file.
type outputSink interface {
	player.Sink
	Frames() int64
}

// runPlay implements
// `segue play [device flags] [--tier high] [--alsa-device NAME] [--out FILE.wav] track|album|playlist ID`.
// Without --out it plays to the ALSA device when this binary was built
// with -tags alsa and the device opens, else it writes segue-play.wav; it
// says which on stderr.
func runPlay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	tierName := fs.String("tier", string(model.TierHigh), "tier: low, normal, high or very_high")
	alsaDevice := fs.String("alsa-device", "default", "ALSA playback device (builds with -tags alsa)")
	out := fs.String("out", "segue-play.wav", "write a WAV file instead of playing to the device")
	crossfade := fs.Duration("crossfade", 0, "crossfade between tracks of different albums (0–12s)")
	gainMode := fs.String("gain", "track", "loudness normalisation to −14 LUFS: track, album or off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue play [flags] track|album|playlist ID")
		fmt.Fprintln(stderr, "  a playlist ID is its document id or automerge: URL, as this device holds it (see segue playlist, segue sync)")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || (pos[0] != "track" && pos[0] != "album" && pos[0] != "playlist") {
		fs.Usage()
		return fmt.Errorf("%w: want track|album|playlist ID", errUsage)
	}
	kind, id := pos[0], pos[1]
	tier, err := model.ParseTier(*tierName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	modes := map[string]player.GainMode{"track": player.GainTrack, "album": player.GainAlbum, "off": player.GainOff}
	mode, ok := modes[*gainMode]
	if !ok {
		return fmt.Errorf("%w: --gain %q: want track, album or off", errUsage, *gainMode)
	}
	var plID docs.DocumentID
	if kind == "playlist" {
		if plID, err = parseDocID(id); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	outSet := false
	fs.Visit(func(f *flag.Flag) { outSet = outSet || f.Name == "out" })
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.close()
	e := dev.e
	var d *core.Docs
	if kind == "playlist" {
		if d, err = dev.docs(ctx); err != nil {
			return err
		}
	}
	sink, describe, err := openOutput(ctx, outSet, *alsaDevice, *out, stderr)
	if err != nil {
		return err
	}
	defer sink.Close()
	p, err := e.OpenPlayer(sink, player.DefaultOptions().WithTier(tier).WithGain(player.DefaultGainOptions().WithMode(mode)))
	if err != nil {
		return err
	}
	defer e.ClosePlayer()
	if err := p.SetCrossfade(*crossfade); err != nil {
		return err
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	switch kind {
	case "album":
		err = e.PlayAlbum(ctx, model.AlbumID(id), 0)
	case "playlist":
		err = e.PlayPlaylist(ctx, d, plID, 0)
	default:
		err = e.PlayTrack(ctx, model.TrackID(id))
	}
	if err != nil {
		return err
	}
	rate, _ := sink.Format()
	var failed error
	if failed, err = progress(ctx, sub, stderr, rate); err != nil {
		return err
	}
	if err := e.ClosePlayer(); err != nil {
		return err
	}
	if err := sink.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d frames (%s)\n", describe, sink.Frames(),
		(time.Duration(sink.Frames()) * time.Second / time.Duration(rate)).Round(time.Millisecond))
	if failed != nil {
		return fmt.Errorf("some tracks were skipped: %w", failed)
	}
	return nil
}

// openOutput opens the ALSA device unless a WAV file was asked for (or
// the device is unavailable: no ALSA in this build, or no device), and
// reports the choice on w.
func openOutput(ctx context.Context, wavAsked bool, device, path string, w io.Writer) (outputSink, string, error) {
	if !wavAsked {
		s, err := alsa.Open(ctx, alsa.DefaultOptions().WithDevice(device))
		if err == nil {
			rate, ch := s.Format()
			fmt.Fprintf(w, "output: ALSA device %q, %d Hz × %d, %s\n", device, rate, ch, s.SampleFormat())
			return s, "played to ALSA device " + device, nil
		}
		if !errors.Is(err, alsa.ErrUnavailable) {
			return nil, "", err
		}
		fmt.Fprintf(w, "output: WAV file %s (%v)\n", path, err)
	} else {
		fmt.Fprintf(w, "output: WAV file %s\n", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, "", err
	}
	s, err := player.NewWAVSink(f, 44100, 2, wav.S16)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return fileSink{s, f}, "wrote " + path, nil
}

// fileSink is a WAV sink that closes its file.
type fileSink struct {
	*player.WAVSink
	f *os.File
}

// Close closes the sink, then the file; it is idempotent.
func (s fileSink) Close() error {
	err := s.WAVSink.Close()
	if cerr := s.f.Close(); err == nil && cerr != nil && !errors.Is(cerr, os.ErrClosed) {
		err = cerr
	}
	return err
}

// progress prints a progress line per status until the queue ends, and
// returns the last track error seen.
func progress(ctx context.Context, sub <-chan player.Status, w io.Writer, rate int) (error, error) {
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
			if !started || time.Since(shown) < 100*time.Millisecond && st.Err == nil {
				continue
			}
			shown = time.Now()
			length := time.Duration(st.Length) * time.Second / time.Duration(rate)
			fmt.Fprintf(w, "\r%-9s track %d  %s / %s  [%s]   ", names[st.State], st.Index+1,
				st.Position.Round(100*time.Millisecond), length.Round(100*time.Millisecond), st.Tier)
		}
	}
}
