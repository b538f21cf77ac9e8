package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
)

func init() {
	register("ingest", "ingest WAV/FLAC masters or Ogg Vorbis tiers into a relay data directory", runIngest)
}

// runIngest is `segue ingest --data DIR [--album album.json | files...]`.
func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue ingest --data DIR [--parallel N] [--quiet] [--gc] (--album album.json | master.wav|master.flac ...)")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "relay data directory (created if absent)")
	album := fs.String("album", "", "album.json sidecar listing the tracks")
	parallel := fs.Int("parallel", ingest.DefaultOptions().Parallel(), "concurrent encoder processes")
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	gc := fs.Bool("gc", false, "after ingesting, delete blobs no manifest references (e.g. left by a failed ingest)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	files := fs.Args()
	switch {
	case *data == "":
		return fmt.Errorf("%w: --data is required", errUsage)
	case *album != "" && len(files) > 0:
		return fmt.Errorf("%w: give either --album or master files, not both", errUsage)
	case *album == "" && len(files) == 0 && !*gc:
		return fmt.Errorf("%w: give --album or master files", errUsage)
	}
	var req ingest.Request
	var err error
	switch {
	case *album != "":
		abs, aerr := filepath.Abs(*album)
		if aerr != nil {
			return aerr
		}
		req, err = ingest.LoadAlbum(os.DirFS(filepath.Dir(abs)), filepath.Base(abs))
	case len(files) > 0:
		req, err = ingest.LoadFiles(os.DirFS("/"), rootedPaths(files)...)
	}
	if err != nil {
		return err
	}
	dd, err := catalog.OpenDataDir(ctx, *data)
	if err != nil {
		return err
	}
	defer dd.Close()
	if len(req.Tracks) > 0 {
		opts := ingest.DefaultOptions().WithParallel(*parallel)
		if !*quiet {
			opts = opts.WithProgress(func(p ingest.Progress) {
				if p.Track < 0 {
					fmt.Fprintf(stderr, "[publish] %d tracks\n", p.Tracks)
					return
				}
				fmt.Fprintf(stderr, "[%d/%d] %-7s %s %s\n", p.Track+1, p.Tracks, p.Stage, p.Tier, p.File)
			})
		}
		res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, opts)
		if err != nil {
			return err
		}
		for _, t := range res.Tracks {
			state := "ingested"
			if t.Skipped {
				state = "already present"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%q\t%s\n", t.ID, state, t.Track.Title, t.File)
		}
		fmt.Fprintf(stdout, "%d tracks in %v (encoders %v)\n", len(res.Tracks), res.Elapsed.Round(1e6), res.EncoderTime.Round(1e6))
	}
	if *gc {
		n, err := dd.Catalog.GC(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "gc: removed %d unreferenced blobs\n", n)
	}
	return nil
}

// rootedPaths makes paths absolute and unrooted for os.DirFS("/") (fs.FS
// names are slash-separated without a leading slash).
func rootedPaths(files []string) []string {
	out := make([]string, len(files))
	for i, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		out[i] = strings.TrimPrefix(filepath.ToSlash(f), "/")
	}
	return out
}
