package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/strictjson"
)

// Request is what to ingest: tracks whose files are read from FS.
type Request struct {
	// FS resolves every file name in the request (os.DirFS for the CLI,
	// demoalbum.FS for the demo). A file that is not a regular file is
	// refused (ErrNotRegular) without being opened when FS implements
	// fs.StatFS, as os.DirFS does.
	FS     fs.FS
	Tracks []TrackRequest
}

// TrackRequest is one track to ingest. Either Master names a WAV or FLAC
// master, or Tiers names at least one pre-encoded Ogg Vorbis file (or
// both: pre-encoded tiers are used as they are, the others are encoded
// from the master). Empty metadata fields are filled from the master's
// FLAC tags, then from defaults (title = file name, disc 1).
type TrackRequest struct {
	Master string                `json:"file,omitempty"`
	Tiers  map[model.Tier]string `json:"tiers,omitempty"`

	Title        string              `json:"title,omitempty"`
	Artists      []string            `json:"artists,omitempty"`
	Album        string              `json:"album,omitempty"`
	AlbumArtists []string            `json:"album_artists,omitempty"`
	TrackNumber  int                 `json:"track_number,omitempty"`
	DiscNumber   int                 `json:"disc_number,omitempty"`
	ISRC         string              `json:"isrc,omitempty"`
	ReleaseDate  string              `json:"release_date,omitempty"`
	Rights       []model.RightsShare `json:"rights,omitempty"`
	// ReleaseAt (RFC 3339), when set, is the album's embargo
	// (model.Album.ReleaseAt): the relay issues no stream key or license
	// for its tracks before it and lists the album in GET /v1/releases,
	// so edges pre-position it. The album gets its tracks' latest.
	ReleaseAt time.Time `json:"release_at,omitzero"`

	// For tracks without a master: the master's identity and exact length
	// (MasterSHA256 as hex; when empty the id derives from the highest
	// tier file), and its loudness, which cannot be measured here.
	MasterSHA256 string          `json:"master_sha256,omitempty"`
	SampleRate   int             `json:"sample_rate,omitempty"`
	Channels     int             `json:"channels,omitempty"`
	Samples      int64           `json:"samples,omitempty"`
	Loudness     *model.Loudness `json:"loudness,omitempty"`
}

// name returns the file that identifies the track (label gives how
// messages name it).
func (t *TrackRequest) name() string {
	if t.Master != "" {
		return t.Master
	}
	for _, tier := range []model.Tier{model.TierVeryHigh, model.TierHigh, model.TierNormal, model.TierLow} {
		if f, ok := t.Tiers[tier]; ok {
			return f
		}
	}
	return "(no file)"
}

// albumFile is the album.json sidecar: album fields shared by its tracks.
type albumFile struct {
	Album        string              `json:"album"`
	AlbumArtists []string            `json:"album_artists"`
	ReleaseDate  string              `json:"release_date"`
	ReleaseAt    time.Time           `json:"release_at"`
	Rights       []model.RightsShare `json:"rights"`
	Tracks       []TrackRequest      `json:"tracks"`
}

// maxSidecar bounds a sidecar file's size.
const maxSidecar = 1 << 20

func readJSON(fsys fs.FS, name string, v any) error {
	f, err := open(fsys, name)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > maxSidecar {
		return fmt.Errorf("%w: %s is %d bytes, limit %d", ErrBadMetadata, label(fsys, name), st.Size(), maxSidecar)
	}
	// Unknown fields are allowed: generators may record their own data
	// (the demo album records cut offsets).
	if err := json.NewDecoder(f).Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %s", ErrBadMetadata, label(fsys, name), strictjson.Problem(err, "the file"))
	}
	return nil
}

// LoadAlbum reads an album.json sidecar from fsys: {album, album_artists,
// release_date, release_at, rights, tracks: [{file, tiers, title, artists,
// track_number, …}]}. File names in it are relative to its directory.
// Album fields apply to every track that does not set its own.
func LoadAlbum(fsys fs.FS, name string) (Request, error) {
	var a albumFile
	if err := readJSON(fsys, name, &a); err != nil {
		return Request{}, fmt.Errorf("load album %s: %w", label(fsys, name), err)
	}
	if len(a.Tracks) == 0 {
		return Request{}, fmt.Errorf("load album %s: %w: no tracks", label(fsys, name), ErrBadMetadata)
	}
	dir := path.Dir(name)
	req := Request{FS: fsys}
	// in names a file of the album: relative to its directory and in it
	// (an upload to a running relay read a "../" name from outside it).
	in := func(f string) (string, error) {
		if path.IsAbs(f) || !fs.ValidPath(path.Clean(f)) {
			return "", fmt.Errorf("load album %s: %w: file %s is outside the album's directory", label(fsys, name), ErrBadMetadata, safetext.Quote(f))
		}
		return path.Join(dir, f), nil
	}
	for i, t := range a.Tracks {
		if t.Master != "" {
			m, err := in(t.Master)
			if err != nil {
				return Request{}, err
			}
			t.Master = m
		}
		tiers := make(map[model.Tier]string, len(t.Tiers))
		for tier, f := range t.Tiers {
			p, err := in(f)
			if err != nil {
				return Request{}, err
			}
			tiers[tier] = p
		}
		t.Tiers = tiers
		t.Album = cmpOr(t.Album, a.Album)
		if len(t.AlbumArtists) == 0 {
			t.AlbumArtists = a.AlbumArtists
		}
		t.ReleaseDate = cmpOr(t.ReleaseDate, a.ReleaseDate)
		if t.ReleaseAt.IsZero() {
			t.ReleaseAt = a.ReleaseAt
		}
		if len(t.Rights) == 0 {
			t.Rights = a.Rights
		}
		if t.TrackNumber == 0 {
			t.TrackNumber = i + 1
		}
		req.Tracks = append(req.Tracks, t)
	}
	return req, nil
}

// LoadFiles builds a request for master files, reading each one's
// optional sidecar "<file>.json" (a TrackRequest object) from fsys.
func LoadFiles(fsys fs.FS, names ...string) (Request, error) {
	req := Request{FS: fsys}
	for _, n := range names {
		t := TrackRequest{}
		err := readJSON(fsys, n+".json", &t)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return Request{}, fmt.Errorf("load sidecar of %s: %w", label(fsys, n), err)
		}
		t.Master = n
		req.Tracks = append(req.Tracks, t)
	}
	return req, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// MaxLoudness bounds a sidecar's loudness, in LUFS and in dBTP: no
// signal of up to MaxChannels channels at full scale measures above it
// (about +14 LUFS for eight K-weighted full-scale channels). A larger
// value is a typo that would silence the track — the player attenuates by
// loudness − (−14) dB — and, through the album's loudness, its album.
const MaxLoudness = 20

// checkFiles refuses, before the track's files are read, a track that
// names no file to identify it by: name needs a master or a known tier.
func (t *TrackRequest) checkFiles() error {
	for tier := range t.Tiers {
		if !tier.Valid() {
			return fmt.Errorf("%w: unknown tier %s", ErrBadMetadata, safetext.Quote(string(tier)))
		}
	}
	if t.Master == "" && len(t.Tiers) == 0 {
		return fmt.Errorf("%w: neither a master nor pre-encoded tiers", ErrBadMetadata)
	}
	return nil
}

// maxNameBytes bounds a title, album or artist name.
const maxNameBytes = 1024

// validate checks a track's metadata once tags and defaults are applied.
func (t *TrackRequest) validate() error {
	switch {
	case strings.TrimSpace(t.Title) == "":
		return fmt.Errorf("%w: no title", ErrBadMetadata)
	case len(t.Artists) == 0:
		return fmt.Errorf("%w: no artist", ErrBadMetadata)
	case t.SampleRate < 0:
		return fmt.Errorf("%w: sample_rate %d: negative", ErrBadMetadata, t.SampleRate)
	case t.Channels < 0:
		return fmt.Errorf("%w: channels %d: negative", ErrBadMetadata, t.Channels)
	case t.Samples < 0:
		return fmt.Errorf("%w: samples %d: negative", ErrBadMetadata, t.Samples)
	case t.TrackNumber < 0 || t.TrackNumber > MaxTrackNumber:
		return fmt.Errorf("%w: track_number %d: want 1..%d", ErrBadMetadata, t.TrackNumber, MaxTrackNumber)
	case t.DiscNumber < 0 || t.DiscNumber > MaxDiscNumber:
		return fmt.Errorf("%w: disc_number %d: want 1..%d", ErrBadMetadata, t.DiscNumber, MaxDiscNumber)
	case len(t.Title) > maxNameBytes:
		return fmt.Errorf("%w: title of %d bytes: at most %d", ErrBadMetadata, len(t.Title), maxNameBytes)
	case len(t.Album) > maxNameBytes:
		return fmt.Errorf("%w: album of %d bytes: at most %d", ErrBadMetadata, len(t.Album), maxNameBytes)
	case t.ISRC != "" && !model.ValidISRC(t.ISRC):
		return fmt.Errorf("%w: isrc %s: want CCXXXYYNNNNN (12 characters, upper case, no hyphens)", ErrBadMetadata, safetext.Quote(t.ISRC))
	case t.ReleaseDate != "" && !model.ValidReleaseDate(t.ReleaseDate):
		return fmt.Errorf("%w: release_date %s: want YYYY, YYYY-MM or YYYY-MM-DD", ErrBadMetadata, safetext.Quote(t.ReleaseDate))
	case !t.ReleaseAt.IsZero() && t.ReleaseAt.Unix() <= 0:
		return fmt.Errorf("%w: release_at %s is not after 1970", ErrBadMetadata, t.ReleaseAt.Format(time.RFC3339))
	case t.Loudness != nil && (t.Loudness.IntegratedLUFS > MaxLoudness || t.Loudness.TruePeakDBTP > MaxLoudness):
		return fmt.Errorf("%w: loudness %g LUFS, true peak %g dBTP (at most %d)", ErrBadMetadata, t.Loudness.IntegratedLUFS, t.Loudness.TruePeakDBTP, MaxLoudness)
	}
	for _, a := range slices.Concat(t.Artists, t.AlbumArtists) {
		if strings.TrimSpace(a) == "" {
			return fmt.Errorf("%w: artist name %s is blank", ErrBadMetadata, safetext.Quote(a))
		}
		if len(a) > maxNameBytes {
			return fmt.Errorf("%w: artist name %s of %d bytes: at most %d", ErrBadMetadata, safetext.Quote(a), len(a), maxNameBytes)
		}
	}
	if err := model.ValidateRights(t.Rights); err != nil {
		return fmt.Errorf("%w: %w", ErrBadMetadata, err)
	}
	return t.checkText()
}

// checkText refuses the track's displayed text (title, album, artists,
// rights parties) when safetext.Check does: control characters, or
// bidirectional overrides that would show it, and what follows it,
// reordered.
func (t *TrackRequest) checkText() error {
	fields := [][2]string{{"title", t.Title}, {"album", t.Album}}
	for _, a := range t.Artists {
		fields = append(fields, [2]string{"artist", a})
	}
	for _, a := range t.AlbumArtists {
		fields = append(fields, [2]string{"album artist", a})
	}
	for _, r := range t.Rights {
		fields = append(fields, [2]string{"rights party", r.Party})
	}
	for _, f := range fields {
		if err := safetext.Check(f[1]); err != nil {
			return fmt.Errorf("%w: %s %s: %w", ErrBadMetadata, f[0], safetext.Quote(f[1]), err)
		}
	}
	return nil
}
