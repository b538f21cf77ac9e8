// Command minimal is the smallest program embedding the Segue engine: it
// opens an engine in a data directory, registers the device with a
// running relay, plays one track through the engine's player into a sink
// of its own that measures what it hears (duration and loudness), and
// prints the result.
//
//	segue relay &                    # a relay with ingested music
//	go run ./examples/minimal -relay http://127.0.0.1:7474 \
//	    -user ada -pass 'correct horse battery' -signup \
//	    -track tr... -tier high
//
// Decrypted audio never leaves memory: the engine verifies and decrypts
// each blob in memory, the player decodes it, and the sink sees each block
// of PCM for the length of one Write. Only encrypted blobs, the sealed
// keys and metadata reach the data directory. An app that needs audio
// does what this sink does (play it, analyse it); writing it to a file
// is what the engine is built never to do.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/loudness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "minimal:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("minimal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	relayURL := fs.String("relay", "http://127.0.0.1:7474", "relay base URL")
	user := fs.String("user", "", "account name")
	pass := fs.String("pass", "", "account password")
	signup := fs.Bool("signup", false, "create the account first (open-signup relays; an account taken already is used)")
	track := fs.String("track", "", "track id to play")
	tierName := fs.String("tier", string(model.TierHigh), "tier: low, normal, high or very_high")
	dataDir := fs.String("dir", "", "engine data directory (default: a temporary one, removed at exit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tier, err := model.ParseTier(*tierName)
	if err != nil {
		return err
	}
	if *user == "" || *pass == "" || *track == "" {
		fs.Usage()
		return errors.New("-user, -pass and -track are required")
	}

	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "segue-minimal-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(*relayURL).WithLogger(logger))
	if err != nil {
		return err
	}
	defer e.Close()
	if *signup {
		// An account taken already may be this user's (run again):
		// Register then says whether the password fits.
		if err := e.SignUp(ctx, *user, *pass); err != nil && !errors.Is(err, core.ErrAccountExists) {
			return err
		}
	}
	if err := e.Register(ctx, *user, *pass, "segue minimal example"); err != nil {
		return err
	}

	sink, err := newMeterSink(44100, 2)
	if err != nil {
		return err
	}
	p, err := e.OpenPlayer(sink, player.DefaultOptions().WithTier(tier))
	if err != nil {
		return err
	}
	statuses, unsubscribe := p.Subscribe()
	defer unsubscribe()
	start := time.Now()
	var firstAudio time.Duration
	p.OnFirstWrite(func() { firstAudio = time.Since(start) })
	if err := e.PlayTrack(ctx, model.TrackID(*track)); err != nil {
		return err
	}
	if err := waitEnd(ctx, statuses); err != nil {
		return err
	}
	if err := e.ClosePlayer(); err != nil { // waits for the player: firstAudio is set
		return err
	}
	frames, loud := sink.result()
	fmt.Fprintf(stdout, "device %s played %s/%s: %d frames (%s) at %d Hz, %.1f LUFS, true peak %.1f dBTP, first audio after %s\n",
		e.DeviceID(), *track, tier, frames, time.Duration(frames)*time.Second/44100, 44100,
		loud.IntegratedLUFS, loud.TruePeakDBTP, firstAudio.Round(time.Microsecond))
	return nil
}

// waitEnd returns when the play ends, or with the error that stopped it.
func waitEnd(ctx context.Context, statuses <-chan player.Status) error {
	started := false
	for {
		select {
		case st, ok := <-statuses:
			if !ok {
				return errors.New("player closed")
			}
			if st.Err != nil && !player.IsWarning(st.Err) {
				return st.Err
			}
			started = started || st.State == player.StateBuffering || st.State == player.StatePlaying
			if started && (st.State == player.StateEnded || st.State == player.StateIdle) {
				return nil
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// meterSink is a player.Sink that measures what it receives (frames,
// EBU R128 loudness and true peak) and keeps none of it: each block lives
// in memory only for the length of Write.
type meterSink struct {
	rate, channels int
	mu             sync.Mutex
	meter          *loudness.Meter
	frames         int64
	closed         bool
}

func newMeterSink(rate, channels int) (*meterSink, error) {
	m, err := loudness.NewMeter(rate, channels)
	if err != nil {
		return nil, err
	}
	return &meterSink{rate: rate, channels: channels, meter: m}, nil
}

// Format implements player.Sink.
func (s *meterSink) Format() (int, int) { return s.rate, s.channels }

// Write implements player.Sink.
func (s *meterSink) Write(ctx context.Context, frames []float32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return player.ErrClosed
	}
	s.meter.Write(frames)
	s.frames += int64(len(frames) / s.channels)
	return nil
}

// Close implements player.Sink.
func (s *meterSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *meterSink) result() (int64, model.Loudness) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.frames, s.meter.Result()
}
