package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/reconcile"
)

// defaultReconcileThreshold is the threshold `segue reconcile` checks
// against when the relay recorded none (it never counted): the counting
// service's default.
const defaultReconcileThreshold = 30 * time.Second

func init() {
	register("reconcile", "check a day's counted streams against the audio served and licenses issued (access records)", runReconcile)
}

// runReconcile implements `segue reconcile --data DIR --day YYYY-MM-DD
// [--edge-access DIR ...] [--threshold D] [--lookback 768h] [--json]`:
// the end-of-day check of server/reconcile on a relay data directory (the
// relay stopped, or a copy) and the access records of its edges (an
// edge's hits reach the relay's records through no other way). It prints a summary and every counted-but-unbacked stream and
// backed-but-uncounted (device, track), or the whole report as JSON. The
// served audio is checked against the threshold the relay counted with
// (counting.RecordedThreshold) unless --threshold is given, each counted
// stream against the one it was counted with (counting.RecordedThresholds);
// a relay that never counted recorded none, and then the default applies. The exit
// status is 0 whether or not discrepancies were found.
func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := reconcile.DefaultOptions()
	data := relayDataFlag(fs)
	day := fs.String("day", "", "the UTC day to reconcile, YYYY-MM-DD")
	threshold := fs.Duration("threshold", 0, fmt.Sprintf("audio the served chunks must cover (default: the threshold the relay counted with, recorded in its data directory; %v when none is)", defaultReconcileThreshold))
	lookback := fs.Duration("lookback", 32*24*time.Hour, "how far before the day access records and licenses back its streams")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	var edgeDirs []string
	fs.Func("edge-access", "an edge's access record directory (segue edge --access-dir), read with the relay's records; repeat for every edge", func(dir string) error {
		info, err := os.Stat(dir)
		if err != nil {
			return err
		}
		if !info.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		edgeDirs = append(edgeDirs, dir)
		return nil
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue reconcile --data DIR --day YYYY-MM-DD [--edge-access DIR ...] [--threshold D] [--lookback 768h] [--json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 || *data == "" {
		fs.Usage()
		return fmt.Errorf("%w: --data is required and no arguments are taken", errUsage)
	}
	d, err := dayArg(*day)
	if err != nil {
		return err
	}
	thresholdSet := false
	fs.Visit(func(f *flag.Flag) { thresholdSet = thresholdSet || f.Name == "threshold" })
	if (thresholdSet && *threshold <= 0) || *lookback < 0 {
		return fmt.Errorf("%w: --threshold must be positive and --lookback not negative", errUsage)
	}
	dd, err := openRelayData(ctx, *data)
	if err != nil {
		return err
	}
	defer dd.Close()
	from := "--threshold"
	opts := def
	if !thresholdSet {
		// Each stream against the threshold it was counted with: a
		// relay restarted with another one keeps the earlier streams'.
		thr, err := counting.RecordedThresholds(ctx, dd.Store)
		if err != nil {
			return err
		}
		opts = opts.WithThresholdAt(thr.At)
		rec, ok, err := counting.RecordedThreshold(ctx, dd.Store)
		switch {
		case err != nil:
			return err
		case ok:
			*threshold, from = rec, "the relay's counting threshold"
		default:
			*threshold, from = defaultReconcileThreshold, "the default: the relay recorded none"
		}
	}
	readers := []access.Reader{access.NewStoreReader(dd.Store)}
	for _, dir := range edgeDirs {
		readers = append(readers, access.NewFileReader(dir))
	}
	rep, err := reconcile.Run(ctx, d, reconcile.AuditStreams(dd.Store, events.NewStoreLog(dd.Store)),
		access.MultiReader(readers...), reconcile.NewCatalog(dd.Catalog, dd.Signer.Public().(ed25519.PublicKey)),
		opts.WithThreshold(*threshold).WithLookback(*lookback))
	if errors.Is(err, access.ErrPruned) {
		return fmt.Errorf("%w (--access-retention deleted them: reconcile a later day or pass a shorter --lookback)", err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	fmt.Fprintf(stdout, "%s: %d counted streams (%d online, %d offline): %d backed, %d counted but unbacked; %d (device, track) backed but uncounted\n",
		rep.Day, rep.Streams, rep.Online, rep.Offline, rep.Backed, len(rep.Unbacked), len(rep.Uncounted))
	fmt.Fprintf(stdout, "threshold %s (%s)\n", *threshold, from)
	for _, u := range rep.Unbacked {
		fmt.Fprintf(stdout, "unbacked  device %s track %s started %s offset %d: %s\n", u.Device, u.Track,
			time.UnixMilli(u.Started).UTC().Format(time.RFC3339), u.Offset, u.Reason)
	}
	for _, u := range rep.Uncounted {
		fmt.Fprintf(stdout, "uncounted device %s track %s: chunks covering %.1f s served from %s, no stream counted\n", u.Device, u.Track,
			float64(u.CoveredMs)/1000, time.UnixMilli(u.First).UTC().Format(time.RFC3339))
	}
	if rep.UnresolvedBlobs > 0 {
		fmt.Fprintf(stdout, "%d served blobs belong to no current manifest\n", rep.UnresolvedBlobs)
	}
	return nil
}
