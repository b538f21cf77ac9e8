package metadata

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/store"
)

// Errors of an import.
var (
	// ErrRefused is returned when the file has invalid lines; the
	// Report lists them and nothing was written.
	ErrRefused = errors.New("metadata: import refused")
	// ErrNotFound is returned by lookups of an id that was never imported.
	ErrNotFound = errors.New("metadata: not found")
)

// LineError is the error of one line (1-based).
type LineError struct {
	Line int    `json:"line"`
	Err  string `json:"error"`
}

// Report is the outcome of an import or a validation.
type Report struct {
	Artists int `json:"artists"`
	Albums  int `json:"albums"`
	Tracks  int `json:"tracks"`
	// Errors lists the first invalid lines (at most Options' limit);
	// ErrorCount counts them all.
	Errors     []LineError `json:"errors,omitempty"`
	ErrorCount int         `json:"error_count,omitempty"`
}

// KV is one write a Hook adds to a chunk; a nil Value deletes Key.
type KV struct {
	Key, Value []byte
}

// Names resolves the display names records refer to: artist names and
// album titles from the file being imported or the store.
type Names interface {
	ArtistName(id string) string
	AlbumTitle(id string) string
}

// Hook indexes imported records (the search index implements it).
type Hook interface {
	// Writes returns the writes that index chunk; they are written in the
	// chunk's transaction and rolled back with it.
	Writes(ctx context.Context, chunk []Record, names Names) ([]KV, error)
	// Committed is called, chunk by chunk, once the whole import has
	// committed: the hook makes the records visible (in memory).
	Committed(ctx context.Context, chunk []Record, names Names) error
}

// Options configures an Importer. Start from DefaultOptions.
type Options struct {
	chunk     int
	maxErrors int
	logger    *slog.Logger
}

// DefaultOptions returns: chunks of 2000 records per transaction, the
// first 100 line errors reported, slog.Default().
func DefaultOptions() Options { return Options{chunk: 2000, maxErrors: 100, logger: slog.Default()} }

// WithChunk sets the records written per transaction (values below 1
// become 1).
func (o Options) WithChunk(n int) Options { o.chunk = max(n, 1); return o }

// WithMaxErrors sets how many line errors a Report lists (values below 1
// become 1); all are counted.
func (o Options) WithMaxErrors(n int) Options { o.maxErrors = max(n, 1); return o }

// WithLogger sets the logger.
func (o Options) WithLogger(l *slog.Logger) Options { o.logger = l; return o }

// Logger returns the logger (slog.Default() when none was set).
func (o Options) Logger() *slog.Logger {
	if o.logger == nil {
		return slog.Default()
	}
	return o.logger
}

// Importer imports metadata files into a store, one import at a time. It
// is safe for concurrent use.
type Importer struct {
	st   store.Store
	hook Hook
	opts Options
	mu   sync.Mutex
}

// New returns an importer writing to st; hook may be nil. Call Recover
// before the first import after opening st (New does not).
func New(st store.Store, hook Hook, opts Options) *Importer {
	if opts.logger == nil {
		opts.logger = slog.Default()
	}
	return &Importer{st: st, hook: hook, opts: opts}
}

func artistKey(id string) []byte { return store.Key("cmeta", "artist", id) }
func albumKey(id string) []byte  { return store.Key("cmeta", "album", id) }
func trackKey(id string) []byte  { return store.Key("cmeta", "track", id) }
func isrcKey(isrc string) []byte { return store.Key("cmeta", "isrc", isrc) }
func audioKey(id string) []byte  { return store.Key("cmeta", "audio", id) }

var (
	journalKey = store.Key("cmeta", "journal")
	undoPrefix = store.Prefix("cmeta", "undo")
)

func undoKey(seq uint64) []byte { return store.Key("cmeta", "undo", store.U64(seq)) }

var dec = cborx.Limits{MaxArrayElements: 64, MaxMapPairs: 32, MaxNestedLevels: 4}.DecMode()

func (r Record) key() []byte {
	switch r.Kind {
	case KindArtist:
		return artistKey(r.Artist.ID)
	case KindAlbum:
		return albumKey(r.Album.ID)
	default:
		return trackKey(r.Track.ID)
	}
}

func (r Record) value() ([]byte, error) {
	switch r.Kind {
	case KindArtist:
		return cborx.Marshal(r.Artist)
	case KindAlbum:
		return cborx.Marshal(r.Album)
	default:
		return cborx.Marshal(r.Track)
	}
}

// names is the Names of one import: what the file defines, then what was
// found in the store.
type names struct {
	artists map[string]string
	albums  map[string]string
}

func (n *names) ArtistName(id string) string { return n.artists[id] }
func (n *names) AlbumTitle(id string) string { return n.albums[id] }

// name is the artist's name or the album's title.
func (n *names) name(kind Kind, id string) string {
	if kind == KindArtist {
		return n.artists[id]
	}
	return n.albums[id]
}

// scan calls fn with each non-empty line of r and its 1-based number.
func scan(r io.Reader, fn func(n int, line []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineBytes+1)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return err
		}
	}
	if errors.Is(sc.Err(), bufio.ErrTooLong) {
		return fmt.Errorf("%w: line %d: longer than %d bytes", ErrInvalid, n+1, MaxLineBytes)
	}
	return sc.Err()
}

// validation is what Validate learns of a file.
type validation struct {
	report Report
	names  names
	// renamed are the artists and albums of the file already imported
	// under another name or title: the albums and tracks that show it
	// are indexed again (dependents).
	renamed map[Kind]map[string]bool
}

func (v *validation) fail(o Options, line int, err error) {
	v.report.ErrorCount++
	if len(v.report.Errors) < o.maxErrors {
		v.report.Errors = append(v.report.Errors, LineError{Line: line, Err: err.Error()})
	}
}

// Validate reads a whole metadata file from r and checks every line:
// syntax and limits (ParseLine), ids unique per kind in the file, ISRCs
// unique and not held by another imported track, and every artist and
// album a line refers to defined in the file or already imported. It
// writes nothing. The Report counts the records and lists the errors; the
// error is ErrRefused when some line is invalid.
func (im *Importer) Validate(ctx context.Context, r io.Reader) (Report, error) {
	v, err := im.validate(ctx, r)
	if err != nil {
		return Report{}, err
	}
	if v.report.ErrorCount > 0 {
		return v.report, fmt.Errorf("%w: %d invalid lines", ErrRefused, v.report.ErrorCount)
	}
	return v.report, nil
}

type ref struct {
	line int
	kind Kind
	id   string
}

// isrcUse is the track of the file that has an ISRC and its line.
type isrcUse struct {
	track string
	line  int
}

func (im *Importer) validate(ctx context.Context, r io.Reader) (*validation, error) {
	v := &validation{names: names{artists: map[string]string{}, albums: map[string]string{}},
		renamed: map[Kind]map[string]bool{KindArtist: {}, KindAlbum: {}}}
	tracks := map[string]bool{}
	var named []ref // the file's artists and albums
	isrcs := map[string]isrcUse{}
	var refs []ref
	err := scan(r, func(n int, line []byte) error {
		if n%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := ParseLine(line)
		if err != nil {
			v.fail(im.opts, n, err)
			return nil
		}
		dup := false
		switch rec.Kind {
		case KindArtist:
			_, dup = v.names.artists[rec.Artist.ID]
			v.names.artists[rec.Artist.ID] = rec.Artist.Name
			v.report.Artists++
			named = append(named, ref{n, KindArtist, rec.Artist.ID})
		case KindAlbum:
			_, dup = v.names.albums[rec.Album.ID]
			v.names.albums[rec.Album.ID] = rec.Album.Title
			v.report.Albums++
			named = append(named, ref{n, KindAlbum, rec.Album.ID})
			for _, a := range rec.Album.ArtistIDs {
				refs = append(refs, ref{n, KindArtist, a})
			}
		case KindTrack:
			t := rec.Track
			dup = tracks[t.ID]
			tracks[t.ID] = true
			v.report.Tracks++
			if t.ISRC != "" {
				if other, ok := isrcs[t.ISRC]; ok && other.track != t.ID {
					v.fail(im.opts, n, invalid("isrc %s also on track %q in this file (line %d)", t.ISRC, other.track, other.line))
					return nil
				}
				isrcs[t.ISRC] = isrcUse{t.ID, n}
			}
			refs = append(refs, ref{n, KindAlbum, t.AlbumID})
			for _, a := range append(t.ArtistIDs[:len(t.ArtistIDs):len(t.ArtistIDs)], t.FeaturedArtistIDs...) {
				refs = append(refs, ref{n, KindArtist, a})
			}
		}
		if dup {
			v.fail(im.opts, n, invalid("%s id %q defined twice in the file", rec.Kind, rec.ID()))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: read: %w", err)
	}
	for _, rf := range named {
		name, err := im.storedName(ctx, rf.kind, rf.id)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return nil, err
		case name != v.names.name(rf.kind, rf.id):
			v.renamed[rf.kind][rf.id] = true
		}
	}
	// References outside the file must already be imported.
	for _, rf := range refs {
		switch err := im.resolveName(ctx, v, rf); {
		case errors.Is(err, ErrNotFound):
			v.fail(im.opts, rf.line, invalid("%s %q is neither in the file nor imported", rf.kind, rf.id))
		case err != nil:
			return nil, err
		}
	}
	// An ISRC held by another imported track is refused (the track
	// attached by it would be ambiguous), on the line that gives it, in
	// line order.
	for _, isrc := range slices.SortedFunc(maps.Keys(isrcs), func(a, b string) int { return isrcs[a].line - isrcs[b].line }) {
		use := isrcs[isrc]
		other, err := im.st.Get(ctx, isrcKey(isrc))
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("metadata: read isrc: %w", err)
		case string(other) != use.track:
			v.fail(im.opts, use.line, invalid("isrc %s of track %q already belongs to imported track %q", isrc, use.track, other))
		}
	}
	return v, nil
}

func (im *Importer) storedName(ctx context.Context, kind Kind, id string) (string, error) {
	switch kind {
	case KindArtist:
		a, err := im.Artist(ctx, id)
		return a.Name, err
	default:
		a, err := im.Album(ctx, id)
		return a.Title, err
	}
}

func getCBOR(ctx context.Context, st store.Store, key []byte, what, id string, v any) error {
	b, err := st.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
	}
	if err != nil {
		return fmt.Errorf("metadata: read %s: %w", what, err)
	}
	if err := dec.Unmarshal(b, v); err != nil {
		return fmt.Errorf("metadata: decode %s %q: %w", what, id, err)
	}
	return nil
}

// Artist returns the imported artist id.
func (im *Importer) Artist(ctx context.Context, id string) (Artist, error) {
	var a Artist
	return a, getCBOR(ctx, im.st, artistKey(id), "artist", id, &a)
}

// Album returns the imported album id.
func (im *Importer) Album(ctx context.Context, id string) (Album, error) {
	var a Album
	return a, getCBOR(ctx, im.st, albumKey(id), "album", id, &a)
}

// Track returns the imported track id.
func (im *Importer) Track(ctx context.Context, id string) (Track, error) {
	var t Track
	return t, getCBOR(ctx, im.st, trackKey(id), "track", id, &t)
}

// TrackByISRC returns the id of the imported track with isrc.
func (im *Importer) TrackByISRC(ctx context.Context, isrc string) (string, error) {
	v, err := im.st.Get(ctx, isrcKey(isrc))
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("%w: isrc %s", ErrNotFound, isrc)
	}
	if err != nil {
		return "", fmt.Errorf("metadata: read isrc: %w", err)
	}
	return string(v), nil
}

// Audio returns the catalog track attached to imported track id, "" when
// none is.
func (im *Importer) Audio(ctx context.Context, id string) (string, error) {
	v, err := im.st.Get(ctx, audioKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("metadata: read audio: %w", err)
	}
	return string(v), nil
}

// ImportFile imports the metadata file at path (see Import).
func (im *Importer) ImportFile(ctx context.Context, path string) (Report, error) {
	return im.Import(ctx, func() (io.ReadCloser, error) { return os.Open(path) })
}

// Import imports a metadata file, all or nothing. open is called once per
// pass over the file (validation, writing, then the hook's Committed) and
// must return the same bytes each time. An invalid line refuses the file
// before anything is written (ErrRefused, with the Report's errors). A
// failure while writing rolls back every chunk written; Committed runs
// only after the import has committed, on a context ctx's cancellation
// does not reach (a committed import is indexed whole).
func (im *Importer) Import(ctx context.Context, open func() (io.ReadCloser, error)) (Report, error) {
	im.mu.Lock()
	defer im.mu.Unlock()
	pass := func(fn func(r io.Reader) error) error {
		f, err := open()
		if err != nil {
			return fmt.Errorf("metadata: open: %w", err)
		}
		defer f.Close()
		return fn(f)
	}
	var v *validation
	err := pass(func(r io.Reader) (err error) { v, err = im.validate(ctx, r); return err })
	if err != nil {
		return Report{}, err
	}
	if v.report.ErrorCount > 0 {
		return v.report, fmt.Errorf("%w: %d invalid lines", ErrRefused, v.report.ErrorCount)
	}
	if err := im.begin(ctx); err != nil {
		return Report{}, err
	}
	w := &writer{im: im, names: &v.names}
	err = pass(func(r io.Reader) error { return w.run(ctx, r) })
	var deps []Record
	if err == nil {
		deps, err = im.dependents(ctx, v)
	}
	for rest := deps; err == nil && len(rest) > 0; rest = rest[min(len(rest), im.opts.chunk):] {
		err = w.write(ctx, rest[:min(len(rest), im.opts.chunk)])
	}
	if err == nil {
		err = im.commit(ctx)
	}
	if err != nil {
		// Roll back on a context that outlives the caller's: a cancelled
		// import must still be undone.
		if rerr := im.rollback(context.WithoutCancel(ctx)); rerr != nil {
			return Report{}, fmt.Errorf("metadata: import failed (%w) and its rollback failed (%v): Recover undoes it at the next start", err, rerr)
		}
		return Report{}, fmt.Errorf("metadata: import rolled back: %w", err)
	}
	if err := im.cleanup(context.WithoutCancel(ctx)); err != nil {
		im.opts.logger.Warn("metadata: undo log not removed (Recover finishes it)", "err", err)
	}
	if im.hook != nil {
		// The import has committed: index all of it even if the caller
		// goes away now (an admin client that disconnects), or the index
		// lacks the rest of the records until the next start.
		cctx := context.WithoutCancel(ctx)
		err = pass(func(r io.Reader) error {
			return chunks(r, im.opts.chunk, func(chunk []Record) error { return im.hook.Committed(cctx, chunk, &v.names) })
		})
		for rest := deps; err == nil && len(rest) > 0; rest = rest[min(len(rest), im.opts.chunk):] {
			err = im.hook.Committed(cctx, rest[:min(len(rest), im.opts.chunk)], &v.names)
		}
		if err != nil {
			return v.report, fmt.Errorf("metadata: imported, but indexing failed (the index catches up at the next start): %w", err)
		}
	}
	im.opts.logger.Info("metadata: imported", "artists", v.report.Artists, "albums", v.report.Albums, "tracks", v.report.Tracks)
	return v.report, nil
}

// dependents returns the imported albums and tracks, as stored after the
// file's records were written, that show the name of an artist or album
// the file renames (validation.renamed): a track its artists', featured
// artists' and album's, an album its artists'. They are written again
// with the file, so that the hook indexes them under the new names, and
// the names of every artist and album they show are loaded into v.names.
// It reads every imported album and track, once per import that renames;
// without a hook it returns none.
func (im *Importer) dependents(ctx context.Context, v *validation) ([]Record, error) {
	if im.hook == nil || len(v.renamed[KindArtist]) == 0 && len(v.renamed[KindAlbum]) == 0 {
		return nil, nil // without a hook nothing shows the names
	}
	var out []Record
	var refs []ref
	shows := func(kind Kind, ids ...string) bool {
		return slices.ContainsFunc(ids, func(id string) bool { return v.renamed[kind][id] })
	}
	err := im.st.Iterate(ctx, store.Prefix("cmeta", "album"), false, func(_, b []byte) error {
		var a Album
		if err := dec.Unmarshal(b, &a); err != nil {
			return fmt.Errorf("metadata: decode album: %w", err)
		}
		if shows(KindArtist, a.ArtistIDs...) {
			out = append(out, Record{Kind: KindAlbum, Album: &a})
			for _, id := range a.ArtistIDs {
				refs = append(refs, ref{0, KindArtist, id})
			}
		}
		return nil
	})
	if err == nil {
		err = im.st.Iterate(ctx, store.Prefix("cmeta", "track"), false, func(_, b []byte) error {
			var t Track
			if err := dec.Unmarshal(b, &t); err != nil {
				return fmt.Errorf("metadata: decode track: %w", err)
			}
			if shows(KindAlbum, t.AlbumID) || shows(KindArtist, t.ArtistIDs...) || shows(KindArtist, t.FeaturedArtistIDs...) {
				out = append(out, Record{Kind: KindTrack, Track: &t})
				refs = append(refs, ref{0, KindAlbum, t.AlbumID})
				for _, id := range append(t.ArtistIDs[:len(t.ArtistIDs):len(t.ArtistIDs)], t.FeaturedArtistIDs...) {
					refs = append(refs, ref{0, KindArtist, id})
				}
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("metadata: find the records showing renamed names: %w", err)
	}
	for _, rf := range refs {
		if err := im.resolveName(ctx, v, rf); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolveName makes v.names hold the name of the artist or album rf
// refers to: the file's, else the imported one (ErrNotFound when neither
// has it).
func (im *Importer) resolveName(ctx context.Context, v *validation, rf ref) error {
	m := v.names.artists
	if rf.kind == KindAlbum {
		m = v.names.albums
	}
	if _, ok := m[rf.id]; ok {
		return nil
	}
	name, err := im.storedName(ctx, rf.kind, rf.id)
	if err != nil {
		return err
	}
	m[rf.id] = name
	return nil
}

// chunks parses r (already validated) and calls fn with chunks of at most
// n records.
func chunks(r io.Reader, n int, fn func([]Record) error) error {
	chunk := make([]Record, 0, n)
	err := scan(r, func(line int, b []byte) error {
		rec, err := ParseLine(b)
		if err != nil {
			return fmt.Errorf("line %d changed since validation: %w", line, err)
		}
		chunk = append(chunk, rec)
		if len(chunk) == n {
			err = fn(chunk)
			chunk = chunk[:0]
		}
		return err
	})
	if err == nil && len(chunk) > 0 {
		err = fn(chunk)
	}
	return err
}
