package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/store/badgerstore"
)

func init() {
	register("ingest", "ingest WAV/FLAC masters or Ogg Vorbis tiers into a relay data directory or a running relay", runIngest)
}

// maxIngestAnswer bounds the relay's answer to an admin ingest.
const maxIngestAnswer = 16 << 20

// runIngest is `segue ingest --data DIR [--album album.json | files...]`
// or `segue ingest --relay URL --admin-token T --album album.json`.
// errIngestCutOff is segue ingest --relay's error when the relay closed
// the connection before answering: it was stopped (SIGTERM past its
// --shutdown-timeout) or crashed during the ingest.
var errIngestCutOff = errors.New("the relay closed the connection before answering (stopped or restarted?); it publishes an album whole or not at all: run the ingest again")

// cutOff reports whether err is a connection the other end closed
// while the request was being sent or before its answer came.
func cutOff(err error) bool {
	for _, e := range []error{io.EOF, io.ErrUnexpectedEOF, net.ErrClosed, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func runIngest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue ingest --data DIR [--parallel N] [--quiet] [--gc] (--album album.json | master.wav|master.flac ...)")
		fmt.Fprintln(stderr, "       segue ingest --relay URL --admin-token TOKEN --album album.json   (into a running relay)")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "relay data directory (initialised when absent or empty); not while a relay runs on it")
	relayURL := fs.String("relay", "", "upload to this running relay instead of opening a data directory")
	admin := fs.String("admin-token", envOr("SEGUE_ADMIN_TOKEN", ""), "the relay's admin token, with --relay (env SEGUE_ADMIN_TOKEN)")
	album := fs.String("album", "", "album.json sidecar listing the tracks")
	parallel := fs.Int("parallel", ingest.DefaultOptions().Parallel(), fmt.Sprintf("concurrent encoder processes, 1…%d", maxIngestParallel))
	quiet := fs.Bool("quiet", false, "no progress on stderr")
	gc := fs.Bool("gc", false, "after ingesting, delete blobs no manifest references (e.g. left by a failed ingest)")
	gcGrace := fs.Duration("gc-grace", catalog.DefaultGCOptions().Grace(), "with --gc and blobs in S3: keep unreferenced blobs younger than this (an ingest in progress)")
	s3 := addBlobS3Flags(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := s3.validate(fs); err != nil {
		return err
	}
	if *gcGrace < 0 {
		return fmt.Errorf("%w: --gc-grace must not be negative", errUsage)
	}
	if *parallel < 1 || *parallel > maxIngestParallel {
		return fmt.Errorf("%w: --parallel %d: want 1…%d", errUsage, *parallel, maxIngestParallel)
	}
	files := fs.Args()
	switch {
	case *relayURL != "" && *data != "":
		return fmt.Errorf("%w: give either --data or --relay, not both", errUsage)
	case *relayURL != "" && (*album == "" || len(files) > 0 || *gc):
		return fmt.Errorf("%w: --relay takes --album album.json (no master files, no --gc)", errUsage)
	case *relayURL != "" && s3.set():
		return fmt.Errorf("%w: --blob-s3-* go with --data (the running relay has its own blob store)", errUsage)
	case *relayURL != "" && *admin == "":
		return fmt.Errorf("%w: --relay needs --admin-token (or SEGUE_ADMIN_TOKEN)", errUsage)
	case *relayURL != "" && !httpURL(*relayURL):
		return fmt.Errorf("%w: --relay %q: want an http:// or https:// URL", errUsage, *relayURL)
	case *relayURL == "" && *data == "":
		return fmt.Errorf("%w: --data (or --relay) is required", errUsage)
	case *album != "" && len(files) > 0:
		return fmt.Errorf("%w: give either --album or master files, not both", errUsage)
	case *album == "" && len(files) == 0 && !*gc:
		return fmt.Errorf("%w: give --album or master files", errUsage)
	}
	// A master that is missing or a directory fails before the data
	// directory is opened, so a mistyped name does not leave a new,
	// empty relay behind.
	for _, f := range files {
		if err := checkMaster(f); err != nil {
			return fmt.Errorf("ingest %s: %w", f, err)
		}
	}
	var req ingest.Request
	var err error
	switch {
	case *album != "":
		abs, aerr := filepath.Abs(*album)
		if aerr != nil {
			return aerr
		}
		req, err = ingest.LoadAlbum(albumFS{FS: os.DirFS(filepath.Dir(abs)), name: filepath.Base(abs), typed: *album}, filepath.Base(abs))
	case len(files) > 0:
		fsys := newArgFS(files)
		req, err = ingest.LoadFiles(fsys, fsys.names...)
	}
	if err != nil {
		return err
	}
	if *relayURL != "" {
		out, err := uploadAlbum(ctx, *relayURL, *admin, *album, req)
		if err != nil {
			return err
		}
		printIngest(stdout, out)
		return nil
	}
	ddOpts, err := s3.apply(ctx, catalog.DefaultDataDirOptions().WithInit(catalog.InitIfEmpty), slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	dd, err := catalog.OpenDataDirWith(ctx, *data, ddOpts)
	if errors.Is(err, badgerstore.ErrLocked) {
		return fmt.Errorf("%w: is `segue relay` running on %s? Ingest through it instead: segue ingest --relay URL --admin-token TOKEN --album album.json", err, *data)
	}
	if err != nil {
		return err
	}
	defer dd.Close()
	if err := s3.check(dd); err != nil {
		return err
	}
	if dd.Created && !*quiet {
		fmt.Fprintf(stderr, "initialised a new relay data directory %s\n", dd.Dir)
	}
	if len(req.Tracks) > 0 {
		tmp, err := dd.TempDir()
		if err != nil {
			return err
		}
		opts := ingest.DefaultOptions().WithParallel(*parallel).WithTempDir(tmp)
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
		out, err := ingest.Summarize(ctx, dd.Catalog, res)
		if err != nil {
			return err
		}
		printIngest(stdout, out)
		fmt.Fprintf(stdout, "%d tracks in %v (encoders %v)\n", len(res.Tracks), res.Elapsed.Round(1e6), res.EncoderTime.Round(1e6))
	}
	if *gc {
		n, err := dd.Catalog.GCWith(ctx, catalog.DefaultGCOptions().WithGrace(*gcGrace))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "gc: removed %d unreferenced blobs\n", n)
	}
	return nil
}

// printIngest prints one line per track (id, state, title, file) and one
// per album (album, id, title).
func printIngest(w io.Writer, out api.IngestResponse) {
	for _, t := range out.Tracks {
		state := "ingested"
		if t.Skipped {
			state = "already present"
		}
		fmt.Fprintf(w, "%s\t%s\t%q\t%s\n", t.ID, state, t.Title, t.File)
	}
	for _, a := range out.Albums {
		fmt.Fprintf(w, "album\t%s\t%q\n", a.ID, a.Title)
	}
}

// httpURL reports whether s is an http or https URL with a host.
func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// uploadAlbum sends albumPath and every file req names to the relay's
// admin ingest endpoint, streaming them, and returns its answer.
func uploadAlbum(ctx context.Context, base, token, albumPath string, req ingest.Request) (api.IngestResponse, error) {
	var names []string
	for _, t := range req.Tracks {
		if t.Master != "" {
			names = append(names, t.Master)
		}
		for _, f := range t.Tiers {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	dir := filepath.Dir(albumPath)
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		pw.CloseWithError(writeUpload(mw, albumPath, dir, names))
	}()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+api.AdminIngestPath, pr)
	if err != nil {
		pr.Close()
		return api.IngestResponse{}, fmt.Errorf("%w: --relay %q: %v", errUsage, base, err)
	}
	hr.Header.Set("Content-Type", mw.FormDataContentType())
	hr.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(hr)
	pr.Close()
	if err != nil && cutOff(err) {
		return api.IngestResponse{}, fmt.Errorf("upload to %s: %w: %w", base, errIngestCutOff, err)
	}
	if err != nil {
		return api.IngestResponse{}, fmt.Errorf("upload to %s: %w", base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxIngestAnswer))
	if err != nil {
		return api.IngestResponse{}, fmt.Errorf("upload to %s: read answer: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb api.ErrorBody
		if json.Unmarshal(body, &eb) != nil || eb.Error == "" {
			eb.Error = http.StatusText(resp.StatusCode)
		}
		return api.IngestResponse{}, fmt.Errorf("relay refused the ingest (%d): %s", resp.StatusCode, eb.Error)
	}
	var out api.IngestResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return api.IngestResponse{}, fmt.Errorf("upload to %s: decode answer (is it a Segue relay?): %w", base, err)
	}
	if len(req.Tracks) > 0 && len(out.Tracks) == 0 { // a relay lists every track, skipped ones too
		return api.IngestResponse{}, fmt.Errorf("upload to %s: the answer lists none of the %d tracks (is it a Segue relay?)", base, len(req.Tracks))
	}
	return out, nil
}

// writeUpload writes the album part and one part per file to mw.
func writeUpload(mw *multipart.Writer, albumPath, dir string, names []string) error {
	add := func(field, name, path string) error {
		f, err := openRegular(path)
		if err != nil {
			return err
		}
		defer f.Close()
		w, err := mw.CreateFormFile(field, name)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, f)
		return err
	}
	if err := add(api.AdminIngestAlbumPart, "album.json", albumPath); err != nil {
		return err
	}
	for _, n := range names {
		if err := add(api.AdminIngestFilePart, n, filepath.Join(dir, filepath.FromSlash(n))); err != nil {
			return err
		}
	}
	return mw.Close()
}

// albumFS is os.DirFS of an --album sidecar's directory; as an
// ingest.Labeler it names the sidecar as the user typed it, so an error
// says /music/x/album.json, not album.json (or tmp for --album /tmp). The
// files the sidecar lists keep its names for them.
type albumFS struct {
	fs.FS
	name, typed string // the sidecar's FS name, and its path as typed
}

// Stat is fs.Stat of the directory, so that ingest refuses a file that
// is not a regular file without opening it.
func (a albumFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(a.FS, name) }

// Label returns the path the sidecar was typed as, other names as they are.
func (a albumFS) Label(name string) string {
	if name == a.name {
		return a.typed
	}
	return name
}

// argFS is os.DirFS("/") for the master files named on the command
// line: names are their absolute paths without the leading slash (fs.FS
// names are unrooted), and as an ingest.Labeler it names a file, and its
// sidecar, as the user typed it, so progress, results and errors say
// /tmp/a.wav or a.wav, not tmp/a.wav or home/me/a.wav.
type argFS struct {
	fs.FS
	names []string          // the files' FS names, in order
	typed map[string]string // FS name → path as typed
}

// maxIngestParallel bounds --parallel: each is an encoder process.
const maxIngestParallel = 256

// checkMaster returns an error when the master file path cannot be
// opened or is not a regular file.
func checkMaster(path string) error {
	f, err := openRegular(path)
	if err != nil {
		return err
	}
	return f.Close()
}

func newArgFS(files []string) argFS {
	a := argFS{FS: os.DirFS("/"), typed: make(map[string]string, 2*len(files))}
	for _, f := range files {
		abs := f
		if p, err := filepath.Abs(f); err == nil {
			abs = p
		}
		name := strings.TrimPrefix(filepath.ToSlash(abs), "/")
		a.names = append(a.names, name)
		a.typed[name] = f
		a.typed[name+".json"] = f + ".json"
	}
	return a
}

// Stat is fs.Stat of "/", so that ingest refuses a file that is not a
// regular file without opening it.
func (a argFS) Stat(name string) (fs.FileInfo, error) { return fs.Stat(a.FS, name) }

// Label returns the path name was typed as; other files by their
// absolute path.
func (a argFS) Label(name string) string {
	if f, ok := a.typed[name]; ok {
		return f
	}
	return "/" + name
}
