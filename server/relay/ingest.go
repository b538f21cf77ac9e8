package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest"
)

// IngestOptions configures the admin ingest endpoint (MountIngest). Start
// from DefaultIngestOptions.
type IngestOptions struct {
	maxFile     int64
	maxRequest  int64
	maxFiles    int
	readTimeout time.Duration
	tmpDir      string
	ingest      ingest.Options
	published   func(context.Context, []model.Track) error
}

// maxAlbumPart bounds the album.json part.
const maxAlbumPart = 1 << 20

// DefaultIngestOptions returns the defaults: files up to ingest.MaxTierBytes
// (1 GiB) each, requests up to 4 GiB and 512 files, one hour to read an
// upload, temporary files under os.TempDir(), and ingest.DefaultOptions()
// (logging to the relay's logger).
func DefaultIngestOptions() IngestOptions {
	return IngestOptions{maxFile: ingest.MaxTierBytes, maxRequest: 4 << 30, maxFiles: 512, readTimeout: time.Hour, ingest: ingest.DefaultOptions()}
}

// WithMaxFile sets the largest uploaded file in bytes (default 1 GiB); a
// larger one is refused with 413.
func (o IngestOptions) WithMaxFile(n int64) IngestOptions { o.maxFile = n; return o }

// WithMaxRequest sets the largest request body in bytes (default 4 GiB);
// a larger one is refused with 413.
func (o IngestOptions) WithMaxRequest(n int64) IngestOptions { o.maxRequest = n; return o }

// WithMaxFiles sets the most files one request may upload (default 512).
func (o IngestOptions) WithMaxFiles(n int) IngestOptions { o.maxFiles = n; return o }

// WithReadTimeout sets how long an admitted upload may take to arrive
// (default one hour); it replaces the server's read deadline for that
// request only.
func (o IngestOptions) WithReadTimeout(d time.Duration) IngestOptions { o.readTimeout = d; return o }

// WithPublished sets a function called with the tracks an ingest
// published, after they are committed (the search index attaches or
// indexes them). Its error is logged: the ingest itself succeeded.
// Default: none.
func (o IngestOptions) WithPublished(fn func(context.Context, []model.Track) error) IngestOptions {
	o.published = fn
	return o
}

// WithTempDir sets where uploads and encoder files are kept while an
// ingest runs (default os.TempDir()); they are removed when it ends.
func (o IngestOptions) WithTempDir(dir string) IngestOptions { o.tmpDir = dir; return o }

// WithIngest sets the ingest pipeline's options (default
// ingest.DefaultOptions(); its temporary directory is replaced by the
// request's own).
func (o IngestOptions) WithIngest(in ingest.Options) IngestOptions { o.ingest = in; return o }

// MountIngest registers POST api.AdminIngestPath, which admits only the
// admin token (401 otherwise, and always without a configured token). It
// takes a multipart upload of an album.json and the files it names (see
// api.AdminIngestPath), keeps them in a temporary directory, runs
// ingest.Ingest on the relay's catalog and answers an api.IngestResponse.
// The ingest is atomic (one catalog.Publish per album): on any failure
// nothing is published and the temporary files are removed. Invalid input
// (a corrupt master, bad metadata, a file album.json does not name or a
// missing one) is 400 naming the file; a file or request over the limits
// is 413. Ingests run one at a time. Call MountIngest before serving.
func (s *Server) MountIngest(opts IngestOptions) {
	h := &ingestHandler{s: s, o: opts, sem: make(chan struct{}, 1)}
	s.e.POST(api.AdminIngestPath, h.serve, s.adminOnly)
}

type ingestHandler struct {
	s   *Server
	o   IngestOptions
	sem chan struct{}
}

func (h *ingestHandler) serve(c echo.Context) error {
	r := c.Request()
	ctx := r.Context()
	if r.ContentLength > h.o.maxRequest {
		return fmt.Errorf("%w: %d bytes, limit is %d", ErrTooLarge, r.ContentLength, h.o.maxRequest)
	}
	if h.o.readTimeout > 0 {
		// Only an admitted admin gets here; errors mean the connection
		// has no deadline to extend (in-process handlers).
		_ = http.NewResponseController(c.Response()).SetReadDeadline(h.s.now().Add(h.o.readTimeout))
	}
	r.Body = http.MaxBytesReader(c.Response(), r.Body, h.o.maxRequest)
	mr, err := r.MultipartReader()
	if err != nil {
		return fmt.Errorf("%w: want a multipart/form-data body: %v", ErrBadRequest, err)
	}
	tmp, err := os.MkdirTemp(h.o.tmpDir, "segue-admin-ingest-")
	if errors.Is(err, fs.ErrNotExist) {
		// The data directory (or the temporary one) was removed.
		return fmt.Errorf("admin ingest: %w: %w", ErrStorageGone, err)
	}
	if err != nil {
		return fmt.Errorf("admin ingest: %w", err)
	}
	defer os.RemoveAll(tmp)
	in := filepath.Join(tmp, "in")
	files, err := h.receive(mr, in)
	if err != nil {
		return err
	}
	req, err := ingest.LoadAlbum(os.DirFS(in), albumName)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := matchFiles(req, files); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	case <-ctx.Done():
		return ctx.Err()
	}
	res, err := ingest.Ingest(ctx, h.s.cat, h.s.signer, req, h.o.ingest.WithTempDir(tmp).WithLogger(h.s.log))
	if err != nil {
		return ingestError(err, in)
	}
	if h.o.published != nil {
		var tracks []model.Track
		for _, t := range res.Tracks {
			tracks = append(tracks, t.Track)
		}
		if err := h.o.published(ctx, tracks); err != nil {
			h.s.log.ErrorContext(ctx, "admin ingest: published hook", "err", err)
		}
	}
	out, err := ingest.Summarize(ctx, h.s.cat, res)
	if err != nil {
		return err
	}
	h.s.log.InfoContext(ctx, "admin ingest", "albums", len(out.Albums), "tracks", len(out.Tracks))
	return c.JSON(http.StatusOK, out)
}

// albumName is where the album part is kept, next to the files it names.
const albumName = "album.json"

// receive stores the parts of mr under dir and returns the uploaded file
// names (album.json excluded).
func (h *ingestHandler) receive(mr *multipart.Reader, dir string) (map[string]bool, error) {
	files := map[string]bool{}
	haveAlbum := false
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bodyError(err, h.o.maxRequest)
		}
		var name string
		limit := h.o.maxFile
		switch p.FormName() {
		case api.AdminIngestAlbumPart:
			if haveAlbum {
				return nil, fmt.Errorf("%w: more than one %q part", ErrBadRequest, api.AdminIngestAlbumPart)
			}
			haveAlbum, name, limit = true, albumName, maxAlbumPart
		case api.AdminIngestFilePart:
			name, err = partFileName(p)
			if err != nil {
				return nil, err
			}
			if files[name] {
				return nil, fmt.Errorf("%w: file %s uploaded twice", ErrBadRequest, QuoteInput(name))
			}
			if len(files) >= h.o.maxFiles {
				return nil, fmt.Errorf("%w: more than %d files", ErrTooLarge, h.o.maxFiles)
			}
			files[name] = true
		default:
			return nil, fmt.Errorf("%w: unexpected part %s (want %q or %q)", ErrBadRequest, QuoteInput(p.FormName()), api.AdminIngestAlbumPart, api.AdminIngestFilePart)
		}
		if err := savePart(p, filepath.Join(dir, filepath.FromSlash(name)), name, limit, h.o.maxRequest); err != nil {
			return nil, err
		}
	}
	if !haveAlbum {
		return nil, fmt.Errorf("%w: no %q part", ErrBadRequest, api.AdminIngestAlbumPart)
	}
	return files, nil
}

// partFileName returns the filename parameter of a file part as sent
// (multipart.Part.FileName keeps only its last element), checked to be a
// clean relative path.
func partFileName(p *multipart.Part) (string, error) {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	name := params["filename"]
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: file part: %v", ErrBadRequest, err)
	case name == "" || len(name) > 255 || !fs.ValidPath(name) || name == "." || name == albumName || path.Clean(name) != name:
		return "", fmt.Errorf("%w: file name %s: want a relative slash-separated path without . or .. elements", ErrBadRequest, QuoteInput(name))
	}
	return name, nil
}

// savePart copies p to dst, refusing more than limit bytes.
func savePart(p *multipart.Part, dst, name string, limit, maxRequest int64) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("admin ingest: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("admin ingest: %w", err)
	}
	fw := &fileWriter{f: f}
	n, err := io.Copy(fw, io.LimitReader(p, limit+1))
	if cerr := f.Close(); err == nil && cerr != nil {
		return fmt.Errorf("admin ingest: %w", cerr)
	}
	switch {
	case fw.err != nil:
		// The relay's disk, not the client's body: a full disk is 507.
		return fmt.Errorf("admin ingest: save upload: %w", fw.err)
	case err != nil:
		return bodyError(err, maxRequest)
	case n > limit:
		return fmt.Errorf("%w: %s is over the %d-byte limit per file", ErrTooLarge, name, limit)
	}
	return nil
}

// fileWriter is f remembering its write error, so that savePart tells a
// failed write to the relay's disk from a failed read of the body.
type fileWriter struct {
	f   *os.File
	err error
}

func (w *fileWriter) Write(b []byte) (int, error) {
	n, err := w.f.Write(b)
	if err != nil {
		w.err = err
	}
	return n, err
}

// bodyError classifies an error reading the request body.
func bodyError(err error, maxRequest int64) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return fmt.Errorf("%w: limit is %d bytes per request", ErrTooLarge, maxRequest)
	}
	return fmt.Errorf("%w: read upload: %v", ErrBadRequest, err)
}

// matchFiles checks that the upload holds exactly the files req names.
func matchFiles(req ingest.Request, files map[string]bool) error {
	named := map[string]bool{}
	for _, t := range req.Tracks {
		if t.Master != "" {
			named[t.Master] = true
		}
		for _, f := range t.Tiers {
			named[f] = true
		}
	}
	for n := range named {
		if !files[n] {
			return fmt.Errorf("%w: %s names %s, which was not uploaded", ErrBadRequest, albumName, QuoteInput(n))
		}
	}
	for n := range files {
		if !named[n] {
			return fmt.Errorf("%w: uploaded file %s is not named in %s", ErrBadRequest, QuoteInput(n), albumName)
		}
	}
	return nil
}

// ingestError maps an ingest failure to the relay's errors, with the
// temporary directory dir cut from the message.
func ingestError(err error, dir string) error {
	msg := strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), "")
	switch {
	case errors.Is(err, ingest.ErrTooLarge):
		return fmt.Errorf("%w: %s", ErrTooLarge, msg)
	case errors.Is(err, ingest.ErrEncoderMissing):
		return echo.NewHTTPError(http.StatusServiceUnavailable, "relay: "+msg)
	case errors.Is(err, ingest.ErrUnsupportedFormat), errors.Is(err, ingest.ErrCorrupt), errors.Is(err, ingest.ErrTruncated),
		errors.Is(err, ingest.ErrBadMetadata), errors.Is(err, ingest.ErrTierMismatch), errors.Is(err, ingest.ErrEncoder),
		errors.Is(err, catalog.ErrBadRelease):
		return fmt.Errorf("%w: %s", ErrBadRequest, msg)
	}
	return fmt.Errorf("admin ingest: %w", err)
}
