package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/alsa"
	"github.com/segue-fm/segue/player/wav"
)

// This file holds segue play's output (the ALSA device or a WAV file
// that appears only once the play succeeded), its --start parsing and
// its progress display.

// outputSink is where segue play sends audio.
type outputSink interface {
	player.Sink
	// Frames returns the frames written so far.
	Frames() int64
	// Commit closes the sink and keeps what it wrote (a WAV file is
	// renamed into place).
	Commit() error
	// Discard closes the sink and drops what it wrote unless Commit
	// succeeded; it is a no-op after Commit.
	Discard()
	// Describe says where the audio went, for the summary line.
	Describe() string
}

// openOutput opens the ALSA device unless a WAV file was asked for (or
// the device is unavailable: no ALSA in this build, or no device), and
// reports the choice on w. A WAV file of format f is written to a
// temporary file next to path, renamed to path by Commit.
func openOutput(ctx context.Context, wavAsked bool, device, path string, f wav.Format, w io.Writer) (outputSink, error) {
	if !wavAsked {
		s, err := alsa.Open(ctx, alsa.DefaultOptions().WithDevice(device))
		if err == nil {
			rate, ch := s.Format()
			fmt.Fprintf(w, "output: ALSA device %q, %d Hz × %d, %s\n", device, rate, ch, s.SampleFormat())
			return alsaOutput{s, device}, nil
		}
		if !errors.Is(err, alsa.ErrUnavailable) {
			return nil, err
		}
		fmt.Fprintf(w, "output: WAV file %s, %s (%v)\n", path, f, err)
	} else {
		fmt.Fprintf(w, "output: WAV file %s, %s\n", path, f)
	}
	tmp, err := createPending(path)
	if err != nil {
		return nil, fmt.Errorf("create output: %w", err)
	}
	s, err := player.NewWAVSink(tmp, 44100, 2, f)
	if err != nil {
		tmp.Discard()
		return nil, err
	}
	return &wavOutput{WAVSink: s, f: tmp}, nil
}

// alsaOutput is the ALSA device as an outputSink.
type alsaOutput struct {
	*alsa.Sink
	device string
}

func (a alsaOutput) Commit() error    { return a.Sink.Close() }
func (a alsaOutput) Discard()         { a.Sink.Close() }
func (a alsaOutput) Describe() string { return "played to ALSA device " + a.device }

// wavOutput is a WAV sink writing a pending file that Commit renames
// into place and Discard removes.
type wavOutput struct {
	*player.WAVSink
	f *pendingFile
}

// Commit finishes the WAV header and commits the file; on failure the
// temporary file is removed.
func (s *wavOutput) Commit() error {
	if err := s.WAVSink.Close(); err != nil {
		s.f.Discard()
		return fmt.Errorf("write %s: %w", s.f.path, err)
	}
	return s.f.Commit()
}

// Discard removes the temporary file unless Commit succeeded.
func (s *wavOutput) Discard() {
	if !s.f.done {
		s.WAVSink.Close()
	}
	s.f.Discard()
}

func (s *wavOutput) Describe() string { return "wrote " + s.f.path }

// maxPosition bounds --start.
const maxPosition = 24 * time.Hour

// parsePosition parses a position in a track: a Go duration ("90s",
// "1m30s", "1.5s") or a clock time "m:ss" or "h:mm:ss", seconds with an
// optional fraction ("1:30", "1:02:03.5"). It must be at least 0 and below
// 24 hours.
func parsePosition(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		if d, err = parseClock(s); err != nil {
			return 0, fmt.Errorf("%q: want a duration (90s, 1m30s) or a clock time (1:30, 1:02:03.5)", s)
		}
	}
	if d < 0 || d >= maxPosition {
		return 0, fmt.Errorf("%q: want a position from 0 to under %v", s, maxPosition)
	}
	return d, nil
}

// parseClock parses "m:ss[.f]" or "h:mm:ss[.f]" (seconds and minutes
// after the first field below 60).
func parseClock(s string) (time.Duration, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, errors.New("not a clock time")
	}
	secs, err := strconv.ParseFloat(parts[len(parts)-1], 64)
	if err != nil || secs < 0 || secs >= 60 || strings.ContainsAny(parts[len(parts)-1], "eE+-") {
		return 0, errors.New("bad seconds")
	}
	d := time.Duration(secs * float64(time.Second))
	unit := time.Minute
	for i := len(parts) - 2; i >= 0; i-- {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n < 0 || (i > 0 && n >= 60) || n > 24*60 {
			return 0, errors.New("bad field")
		}
		d += time.Duration(n) * unit
		unit *= 60
	}
	return d, nil
}

// playProgress shows segue play's progress on w: the time to first
// audio, a line per track (n/N, title — artists) and, at most every
// 200 ms, the position in it.
type playProgress struct {
	e       *core.Engine
	w       io.Writer
	rate    int
	n       int // tracks in the context
	first   <-chan time.Duration
	artists map[model.ArtistID]string
	// meta names artists from the relay, at most lookup per request
	// (artistLookup when 0), else from the records this device kept;
	// after one request fails to get an answer it asks no more.
	meta   *metaResolver
	lookup time.Duration
	shown  int // length of the status line on screen, 0 when none
}

// line prints s on a line of its own, over the status line.
func (pr *playProgress) line(format string, args ...any) {
	pr.clear()
	fmt.Fprintf(pr.w, format+"\n", args...)
}

// status replaces the status line (no newline: the next one overwrites it).
func (pr *playProgress) status(format string, args ...any) {
	pr.clear()
	s := fmt.Sprintf(format, args...)
	fmt.Fprint(pr.w, s)
	pr.shown = len(s)
}

// clear blanks the status line, if any, leaving the cursor at its start.
func (pr *playProgress) clear() {
	if pr.shown > 0 {
		fmt.Fprintf(pr.w, "\r%*s\r", pr.shown, "")
		pr.shown = 0
	}
}

// errPlayerStopped is run's error when the player ended before the
// queue did: closing it then returns why (a sink write that failed).
var errPlayerStopped = errors.New("play: player stopped")

// run prints progress until the queue ends and returns the errors of
// the tracks the player skipped; errPlayerStopped when the player ended
// first.
func (pr *playProgress) run(ctx context.Context, sub <-chan player.Status) ([]error, error) {
	var skipped []error
	started := false
	names := map[player.State]string{player.StateIdle: "idle", player.StateBuffering: "buffering",
		player.StatePlaying: "playing", player.StatePaused: "paused", player.StateEnded: "ended"}
	var shown time.Time
	last := model.TrackID("")
	lastIndex := -1
	for {
		select {
		case <-ctx.Done():
			return skipped, ctx.Err()
		case d := <-pr.first:
			pr.line("first audio after %v", d.Round(100*time.Microsecond))
		case st, ok := <-sub:
			if !ok {
				return skipped, errPlayerStopped
			}
			switch {
			case player.IsWarning(st.Err):
				pr.line("warning: %v", st.Err)
			case st.Err != nil: // the player skipped the track
				skipped = append(skipped, st.Err)
				pr.line("warning: track %d/%d skipped: %v", st.Index+1, pr.n, st.Err)
			}
			started = started || st.State == player.StateBuffering || st.State == player.StatePlaying
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				pr.line("ended")
				return skipped, nil
			}
			if !started {
				continue
			}
			if st.Track != "" && (st.Track != last || st.Index != lastIndex) {
				last, lastIndex = st.Track, st.Index
				pr.line("track %d/%d  %s", st.Index+1, pr.n, pr.describe(ctx, st.Track))
			}
			if time.Since(shown) < 200*time.Millisecond {
				continue
			}
			shown = time.Now()
			length := time.Duration(st.Length) * time.Second / time.Duration(pr.rate)
			pr.status("%-9s track %d/%d  %s / %s  [%s]", names[st.State], st.Index+1, pr.n,
				clock(st.Position), clock(length), st.Tier)
		}
	}
}

// describe returns "title — artist, artist" for a track, from its
// metadata (the downloads' copy when it is downloaded) and the relay's
// artist names; the track id when its metadata cannot be had.
func (pr *playProgress) describe(ctx context.Context, id model.TrackID) string {
	t, err := pr.e.TrackInfo(ctx, id)
	if err != nil {
		return string(id)
	}
	var names []string
	for _, a := range t.ArtistIDs {
		if name := pr.artist(ctx, a); name != "" {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return t.Title
	}
	return t.Title + " — " + strings.Join(names, ", ")
}

// artistLookup bounds the relay's answer for an artist's name in `segue
// play`'s progress: progress waits for it, and a relay that accepts
// connections but does not answer (a network gone mid-way) held the first
// track line, and the end of a play to a file, for the HTTP client's 30 s.
const artistLookup = 2 * time.Second

// artist returns an artist's name, asking the relay once per artist (at
// most pr.lookup) and not at all once it did not answer, else from this
// device's record of it; "" when unknown.
func (pr *playProgress) artist(ctx context.Context, id model.ArtistID) string {
	if name, ok := pr.artists[id]; ok {
		return name
	}
	if pr.meta == nil {
		pr.meta = newMetaResolver(pr.e)
	}
	lookup := pr.lookup
	if lookup == 0 {
		lookup = artistLookup
	}
	var a model.Artist
	pr.meta.resolve(ctx, cliMetaArtist, string(id), &a, func() (any, error) {
		actx, cancel := context.WithTimeout(ctx, lookup)
		defer cancel()
		a, err := pr.e.Artist(actx, id)
		if err != nil && actx.Err() != nil && ctx.Err() == nil {
			pr.meta.offline = true
		}
		return a, err
	})
	pr.artists[id] = a.Name
	return a.Name
}

// clock formats a position as m:ss.d (h:mm:ss.d from an hour).
func clock(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	h, m := d/time.Hour, d%time.Hour/time.Minute
	s := float64(d%time.Minute) / float64(time.Second)
	if h > 0 {
		return fmt.Sprintf("%d:%02d:%04.1f", h, m, s)
	}
	return fmt.Sprintf("%d:%04.1f", m, s)
}

// countingSink counts the frames written through it and advances clock
// by them.
type countingSink struct {
	player.Sink
	channels int
	frames   atomic.Int64
	clock    *audioClock
}

func (c *countingSink) Write(ctx context.Context, frames []float32) error {
	if err := c.Sink.Write(ctx, frames); err != nil {
		return err
	}
	n := int64(len(frames) / c.channels)
	c.frames.Add(n)
	c.clock.frames.Add(n)
	return nil
}

// audioClock is the clock of play events rendered faster than real time
// (into a WAV file, a discard sink: `segue demo`, `segue play` without a
// sound device): its start plus the audio its sinks rendered since, at
// rate frames a second. Plays stamped by the wall clock would overlap,
// which the relay refuses (one device plays one track at a time); on the
// audio time line each play starts where the previous one ended, as if
// listened to.
type audioClock struct {
	start  time.Time
	rate   int64
	frames atomic.Int64
}

// newAudioClock returns an audioClock at start before any audio.
func newAudioClock(rate int, start time.Time) *audioClock {
	return &audioClock{start: start, rate: int64(rate)}
}

// Now returns the clock's time.
func (c *audioClock) Now() time.Time {
	f := c.frames.Load()
	return c.start.Add(time.Duration(f/c.rate)*time.Second + time.Duration(f%c.rate*int64(time.Second)/c.rate))
}
