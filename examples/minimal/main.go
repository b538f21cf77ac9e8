// Command minimal is the smallest program embedding the Segue engine: it
// opens an engine in a temporary directory, registers the device with a
// running relay, and streams one track's decrypted Ogg Vorbis to a file
// (or just counts it).
//
//	segue relay &                    # a relay with ingested music
//	go run ./examples/minimal -relay http://127.0.0.1:7474 \
//	    -user ada -pass 'correct horse battery' -signup \
//	    -track tr... -tier high -out track.ogg
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
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
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
	signup := fs.Bool("signup", false, "create the account first (open-signup relays)")
	track := fs.String("track", "", "track id to stream")
	tierName := fs.String("tier", string(model.TierHigh), "tier: low, normal, high or very_high")
	out := fs.String("out", "", "write the decrypted Ogg stream to this file (default: only count it)")
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

	dir, err := os.MkdirTemp("", "segue-minimal-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(*relayURL).WithLogger(logger))
	if err != nil {
		return err
	}
	defer e.Close()
	if *signup {
		if err := e.SignUp(ctx, *user, *pass); err != nil {
			return err
		}
	}
	if err := e.Register(ctx, *user, *pass, "segue minimal example"); err != nil {
		return err
	}

	start := time.Now()
	t, err := e.OpenTrack(ctx, model.TrackID(*track), tier)
	if err != nil {
		return err
	}
	r := t.Stream(ctx)
	defer r.Close()
	w := io.Discard
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	first := make([]byte, 1)
	if _, err := io.ReadFull(r, first); err != nil {
		return err
	}
	ttfb := time.Since(start)
	if _, err := w.Write(first); err != nil {
		return err
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err
	}
	m := t.Manifest()
	fmt.Fprintf(stdout, "device %s streamed %s/%s: %d bytes, %d chunks, %d samples at %d Hz, first byte after %s\n",
		e.DeviceID(), m.TrackID, m.Tier, n+1, len(m.Chunks), m.TotalSamples, m.SampleRate, ttfb.Round(time.Microsecond))
	return nil
}
