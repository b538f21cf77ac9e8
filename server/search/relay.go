package search

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/server/relay"
)

// AdminImportPath is the admin route of a catalog metadata import.
const AdminImportPath = "/v1/admin/catalog/import"

// DefaultMaxImportBytes bounds an import's body (1 GiB: about 4 million
// tracks of generated metadata).
const DefaultMaxImportBytes = 1 << 30

// Service is the relay's search: the index, the metadata importer that
// feeds it, and the catalog whose ingested tracks it indexes.
type Service struct {
	Index *Index
	Meta  *metadata.Importer
	cat   *catalog.Catalog
	log   *slog.Logger

	maxImport int64
	tmpDir    string
	sem       chan struct{}
}

// SnapshotFile is the index snapshot's file in a relay data directory
// (searchindex.Options.WithSnapshot): the dictionaries, so that a restart
// tokenises only the entries stored since it was written.
const SnapshotFile = "search-index.snap"

// Open opens the search of a relay data directory: it finishes an
// interrupted metadata import (metadata.Importer.Recover), opens the
// index persisted in dd's store with its snapshot (SnapshotFile) and
// indexes dd's published catalog (IndexCatalog).
func Open(ctx context.Context, dd *catalog.DataDir, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.Default()
	}
	mopts := metadata.DefaultOptions().WithLogger(log)
	if _, err := metadata.New(dd.Store, nil, mopts).Recover(ctx); err != nil {
		return nil, err
	}
	ix, err := OpenIndex(ctx, dd.Store, DefaultOptions().WithSnapshot(filepath.Join(dd.Dir, SnapshotFile)).WithLogger(log))
	if err != nil {
		return nil, err
	}
	s := NewService(ix, dd.Catalog, mopts)
	if err := s.IndexCatalog(ctx); err != nil {
		return nil, err
	}
	// Opening a large index leaves as much heap garbage as it keeps
	// (decoded entries, tokenised terms): return it to the OS once, or the
	// relay's RSS keeps the build's peak (at 1,000,000 tracks 1.95 GiB
	// against 1.11 GiB in use, docs/BENCHMARKS.md).
	debug.FreeOSMemory()
	return s, nil
}

// NewService returns the search of catalog cat over ix, importing
// metadata with mopts. The caller has run metadata Recover on ix's store
// before opening ix.
func NewService(ix *Index, cat *catalog.Catalog, mopts metadata.Options) *Service {
	return &Service{Index: ix, Meta: NewImporter(ix, mopts), cat: cat, log: mopts.Logger(),
		maxImport: DefaultMaxImportBytes, sem: make(chan struct{}, 1)}
}

// Close writes the index's snapshot (SnapshotFile), so that the next open
// tokenises nothing; the relay calls it at shutdown, before closing the
// data directory. The index stays usable.
func (s *Service) Close(ctx context.Context) error {
	return s.Index.SaveSnapshot(ctx)
}

// MountForDataDir opens the search of dd (Open) and mounts its routes on
// r: GET /v1/search (device token) and POST AdminImportPath (admin
// token), which keeps an upload in dd.TempDir() while it imports it. The
// Service logs with r's logger and stays valid while dd is open.
func MountForDataDir(ctx context.Context, dd *catalog.DataDir, r *relay.Server) (*Service, error) {
	s, err := Open(ctx, dd, r.Logger())
	if err != nil {
		return nil, err
	}
	if rp := r.Docs(); rp != nil {
		if err := s.FollowPlaylists(ctx, dd.Store, rp); err != nil {
			return nil, err
		}
		// The start-up pass over every document's records leaves its
		// garbage (the id list, the records read): return it too.
		debug.FreeOSMemory()
	}
	if s.tmpDir, err = dd.TempDir(); err != nil {
		return nil, err
	}
	NewServer(s.Index).Mount(r)
	r.Echo().POST(AdminImportPath, s.importHandler, r.AdminOnly())
	return s, nil
}

// IndexCatalog indexes every published track of the catalog with its
// album and artists. A track whose ISRC is an imported track's is
// attached to it instead (AttachAudio). Entries already indexed as they
// are are not written again, so a restart does not rewrite them.
func (s *Service) IndexCatalog(ctx context.Context) error {
	var tracks []model.Track
	err := s.cat.EachTrack(ctx, func(t model.Track) error {
		tracks = append(tracks, t)
		if len(tracks) == 500 {
			err := s.Published(ctx, tracks)
			tracks = tracks[:0]
			return err
		}
		return nil
	})
	if err == nil {
		err = s.Published(ctx, tracks)
	}
	if err != nil {
		return fmt.Errorf("search: index catalog: %w", err)
	}
	return nil
}

// Published indexes catalog tracks just published by an ingest (the
// relay's ingest calls it): each attaches to the imported track with its
// ISRC, or is indexed as its own track with its album and artists.
func (s *Service) Published(ctx context.Context, tracks []model.Track) error {
	var batch []Entry
	artistName := map[model.ArtistID]string{}
	names := func(ids []model.ArtistID) ([]string, error) {
		var out []string
		for _, id := range ids {
			n, ok := artistName[id]
			if !ok {
				a, err := s.cat.Artist(ctx, id)
				if err != nil {
					return nil, err
				}
				n, artistName[id] = a.Name, a.Name
				batch = append(batch, Entry{Kind: KindArtist, ID: string(id), Title: a.Name})
			}
			out = append(out, n)
		}
		return out, nil
	}
	seen := map[model.AlbumID]bool{}
	for _, t := range tracks {
		attached, err := s.attached(ctx, t)
		if err != nil {
			return err
		}
		if attached {
			continue
		}
		artists, err := names(t.ArtistIDs)
		if err != nil {
			return err
		}
		al, err := s.cat.Album(ctx, t.AlbumID)
		if err != nil && !errors.Is(err, catalog.ErrNotFound) {
			return err
		}
		if al.ID != "" && !seen[al.ID] {
			seen[al.ID] = true
			alArtists, err := names(al.ArtistIDs)
			if err != nil {
				return err
			}
			batch = append(batch, Entry{Kind: KindAlbum, ID: string(al.ID), Title: al.Title, Artists: alArtists})
		}
		batch = append(batch, Entry{Kind: KindTrack, ID: string(t.ID), Title: t.Title, Artists: artists, Album: al.Title, Audio: string(t.ID)})
	}
	batch = s.Index.Changed(batch)
	if len(batch) == 0 {
		return nil
	}
	return s.Index.Upsert(ctx, batch...)
}

// attached attaches t to the imported track with its ISRC unless it
// already is, and reports whether t is an imported track's audio.
func (s *Service) attached(ctx context.Context, t model.Track) (bool, error) {
	if t.ISRC == "" {
		return false, nil
	}
	id, err := s.Meta.TrackByISRC(ctx, t.ISRC)
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur, err := s.Meta.Audio(ctx, id); err != nil {
		return false, err
	} else if cur == string(t.ID) {
		return true, nil
	}
	if _, err := AttachAudio(ctx, s.Index, s.Meta, id, t); err != nil {
		return false, err
	}
	s.log.Info("search: attached audio to an imported track", "track", id, "audio", t.ID, "isrc", t.ISRC)
	return true, nil
}

// ImportResponse is the body of POST AdminImportPath: the counts, or on
// 400 the invalid lines (nothing imported).
type ImportResponse struct {
	api.ErrorBody
	metadata.Report
}

// importHandler serves POST AdminImportPath: a JSON Lines body (at most
// maxImport bytes) is spooled to a temporary file and imported all or
// nothing. 200 with the counts; 400 with the invalid lines; 409 while
// another import runs; 413 over the limit.
func (s *Service) importHandler(c echo.Context) error {
	r := c.Request()
	if r.ContentLength > s.maxImport {
		return fmt.Errorf("%w: %d bytes, limit is %d", relay.ErrTooLarge, r.ContentLength, s.maxImport)
	}
	select {
	case s.sem <- struct{}{}:
		defer func() { <-s.sem }()
	default:
		return c.JSON(http.StatusConflict, api.ErrorBody{Error: "another catalog import is running"})
	}
	f, err := os.CreateTemp(s.tmpDir, "segue-catalog-import-*.jsonl")
	if err != nil {
		return fmt.Errorf("catalog import: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, http.MaxBytesReader(c.Response(), r.Body, s.maxImport))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return fmt.Errorf("%w: limit is %d bytes", relay.ErrTooLarge, s.maxImport)
	case err != nil:
		return fmt.Errorf("%w: read body: %v", relay.ErrBadRequest, err)
	case n == 0:
		return fmt.Errorf("%w: empty body (want JSON Lines)", relay.ErrBadRequest)
	}
	rep, err := s.Meta.ImportFile(r.Context(), f.Name())
	switch {
	case errors.Is(err, metadata.ErrRefused), errors.Is(err, metadata.ErrInvalid):
		return c.JSON(http.StatusBadRequest, ImportResponse{ErrorBody: api.ErrorBody{Error: err.Error()}, Report: rep})
	case err != nil:
		return err
	}
	s.log.InfoContext(r.Context(), "admin catalog import", "bytes", n, "artists", rep.Artists, "albums", rep.Albums, "tracks", rep.Tracks)
	if err := s.Index.SaveSnapshot(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "search: save index snapshot after an import", "err", err)
	}
	return c.JSON(http.StatusOK, ImportResponse{Report: rep})
}
