package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/sync/docs"
)

func init() {
	register("play", "play a track, album or playlist (downloaded ones with the relay down too) to the audio device or a WAV file, with time to first audio and progress", runPlay)
}

// runPlay implements
// `segue play [device flags] [--tier TIER] [--alsa-device NAME] [--out FILE.wav] [--format s16|s24|f32] [--start POS] [--offline] [--effect FILE.wasm [--effect-param k=v]...]... track|album|playlist ID`.
// Without --out it plays to the ALSA device when this binary was built
// with -tags alsa and the device opens, else it writes segue-play.wav; it
// says which on stderr. A WAV file appears only once the play succeeded.
// What this device downloaded plays with the relay unreachable: metadata,
// manifests, audio and keys all come from the downloads. Once the play
// succeeded it sends the relay the plays the device holds (best effort:
// with the relay unreachable, or --offline, they stay queued for the next
// `segue sync now` or play, and it says so on stderr).
func runPlay(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("play", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	tierName := fs.String("tier", "", "tier: low, normal, high or very_high (default: the highest tier the first track is downloaded at, else high)")
	alsaDevice := fs.String("alsa-device", "default", "ALSA playback device (builds with -tags alsa)")
	out := fs.String("out", "segue-play.wav", "write a WAV file instead of playing to the device (written to a temporary file, renamed once the play succeeded)")
	formatName := fs.String("format", "s16", "WAV sample format: s16, s24 or f32")
	startAt := fs.String("start", "", "start this far into the first track: 90s, 1m30s, 1:30 or 1:02:03.5 (sample-exact)")
	crossfade := fs.Duration("crossfade", 0, fmt.Sprintf("crossfade between tracks of different albums (0s to %v)", player.MaxCrossfade))
	gainMode := fs.String("gain", "track", "loudness normalisation to −14 LUFS: track, album or off")
	offline := fs.Bool("offline", false, "offline mode: ask the relay for no keys; tracks not downloaded are skipped at once instead of retried; the plays stay on the device until 'segue sync now'")
	effects := addEffectFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue play [flags] track|album|playlist ID")
		fmt.Fprintln(stderr, "  a playlist ID is its document id or automerge: URL, as this device holds it (see segue playlist, segue sync)")
		fmt.Fprintln(stderr, "  downloaded tracks, albums and playlists (segue download) play with the relay unreachable")
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
	tierSet := false
	fs.Visit(func(f *flag.Flag) { tierSet = tierSet || f.Name == "tier" })
	tier := model.TierHigh
	if tierSet {
		if tier, err = model.ParseTier(*tierName); err != nil {
			return fmt.Errorf("%w: --tier: %v", errUsage, err)
		}
	}
	modes := map[string]player.GainMode{"track": player.GainTrack, "album": player.GainAlbum, "off": player.GainOff}
	mode, ok := modes[*gainMode]
	if !ok {
		return fmt.Errorf("%w: --gain %q: want track, album or off", errUsage, *gainMode)
	}
	format, err := wav.ParseFormat(*formatName)
	if err != nil {
		return fmt.Errorf("%w: --format %q: want s16, s24 or f32", errUsage, *formatName)
	}
	if *crossfade < 0 || *crossfade > player.MaxCrossfade {
		return fmt.Errorf("%w: --crossfade %v: want 0s to %v", errUsage, *crossfade, player.MaxCrossfade)
	}
	var start time.Duration
	if *startAt != "" {
		if start, err = parsePosition(*startAt); err != nil {
			return fmt.Errorf("%w: --start: %v", errUsage, err)
		}
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
	defer dev.closeInto(&err)
	e := dev.e
	e.SetOfflineMode(*offline)
	// The downloads serve metadata, manifests, blobs and keys; they stay
	// paused: playing downloads nothing.
	dl, err := dev.downloads(ctx, download.DefaultOptions(), "segue play")
	if err != nil {
		return err
	}
	var d *core.Docs
	if kind == "playlist" {
		if d, err = dev.docs(ctx); err != nil {
			return err
		}
	}
	var tracks []model.TrackID // the context's, in order
	switch kind {
	case "album":
		a, _, err := e.Album(ctx, model.AlbumID(id))
		if err != nil {
			return err
		}
		tracks = a.TrackIDs
	case "playlist":
		v, err := d.Playlists().Get(ctx, plID)
		if err != nil {
			return fmt.Errorf("playlist %s: %w", id, err)
		}
		for _, en := range v.Entries {
			tracks = append(tracks, en.Track)
		}
	default:
		tracks = []model.TrackID{model.TrackID(id)}
	}
	if start > 0 && len(tracks) > 0 {
		if t, err := e.TrackInfo(ctx, tracks[0]); err == nil && t.SampleRate > 0 && start >= t.Duration() {
			return fmt.Errorf("%w: --start %s is past the end of the first track (%s, %s)", errUsage, *startAt, t.Title, clock(t.Duration()))
		}
	}
	if !tierSet && len(tracks) > 0 {
		// Without --tier, a downloaded first track picks the tier: the
		// highest it is downloaded at, so a download plays offline.
		for _, t := range slices.Backward(model.Tiers) {
			if dl.Downloaded(tracks[0], t) {
				if t != tier {
					fmt.Fprintf(stderr, "tier: %s (downloaded)\n", t)
				}
				tier = t
				break
			}
		}
	}
	sink, err := openOutput(ctx, outSet, *alsaDevice, *out, format, stderr)
	if err != nil {
		return err
	}
	defer sink.Discard()
	rate, channels := sink.Format()
	fx, closeFx, err := effects.load(ctx, rate, channels)
	if err != nil {
		return err
	}
	defer closeFx()
	popts := player.DefaultOptions().WithTier(tier).WithGain(player.DefaultGainOptions().WithMode(mode)).WithEffects(fx...)
	var psink player.Sink = sink
	if _, file := sink.(*wavOutput); file {
		// A file renders faster than real time: the plays are stamped on
		// the audio time line, ending about now, as if just listened to.
		clk := newAudioClock(rate, time.Now().Add(-queueDuration(ctx, e, tracks, start)))
		psink = &countingSink{Sink: sink, channels: channels, clock: clk}
		popts = popts.WithClock(clk.Now)
	}
	p, err := e.OpenPlayer(psink, popts)
	if err != nil {
		return err
	}
	defer e.ClosePlayer()
	if err := p.SetCrossfade(*crossfade); err != nil {
		return err
	}
	frame := int64(start) * int64(rate) / int64(time.Second) // start < 24 h: no overflow
	sub, cancel := p.Subscribe()
	defer cancel()
	first := make(chan time.Duration, 1)
	t0 := time.Now()
	p.OnFirstWrite(func() { first <- time.Since(t0) })
	switch kind {
	case "album":
		err = e.PlayAlbumFrom(ctx, model.AlbumID(id), 0, frame)
	case "playlist":
		err = e.PlayPlaylistFrom(ctx, d, plID, 0, frame)
	default:
		err = e.PlayTrackFrom(ctx, model.TrackID(id), frame)
	}
	if err != nil {
		return err
	}
	n := len(tracks)
	pr := &playProgress{e: e, w: stderr, rate: rate, n: n, first: first, artists: map[model.ArtistID]string{}}
	skipped, err := pr.run(ctx, sub)
	if errors.Is(err, errPlayerStopped) {
		if cerr := e.ClosePlayer(); cerr != nil {
			return fmt.Errorf("play: %w", cerr)
		}
	}
	if err != nil {
		return err
	}
	if err := e.ClosePlayer(); err != nil {
		return err
	}
	frames := sink.Frames()
	if frames == 0 {
		return errors.Join(append([]error{errors.New("nothing played")}, skipped...)...)
	}
	if err := sink.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %d frames (%s)\n", sink.Describe(), frames,
		(time.Duration(frames) * time.Second / time.Duration(rate)).Round(time.Millisecond))
	if len(skipped) > 0 {
		fmt.Fprintf(stderr, "warning: %d of %d tracks skipped\n", len(skipped), n)
	}
	if *offline {
		if hs, err := e.History().List(ctx, 0); err == nil && len(hs) > 0 {
			fmt.Fprintf(stderr, "plays: %d kept on this device (--offline); `segue sync now` sends them\n", len(hs))
		}
		return nil
	}
	uploadPlays(ctx, e, playUploadTimeout).printPlayLine(stderr)
	return nil
}

// queueDuration is how long tracks play from start into the first one,
// by their metadata; a track whose metadata cannot be read counts 0.
func queueDuration(ctx context.Context, e *core.Engine, tracks []model.TrackID, start time.Duration) time.Duration {
	var d time.Duration
	for _, id := range tracks {
		if t, err := e.TrackInfo(ctx, id); err == nil && t.SampleRate > 0 {
			d += t.Duration()
		}
	}
	return max(d-start, 0)
}
