package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/strictjson"
)

// Kind is the kind of a record: "artist", "album" or "track".
type Kind string

// The kinds of records.
const (
	KindArtist Kind = "artist"
	KindAlbum  Kind = "album"
	KindTrack  Kind = "track"
)

// Artist is an imported artist.
type Artist struct {
	ID         string  `cbor:"1,keyasint" json:"id"`
	Name       string  `cbor:"2,keyasint" json:"name"`
	Popularity float64 `cbor:"3,keyasint,omitempty" json:"popularity,omitempty"`
}

// Album is an imported album. ArtistIDs[0] is the main album artist.
type Album struct {
	ID          string   `cbor:"1,keyasint" json:"id"`
	Title       string   `cbor:"2,keyasint" json:"title"`
	ArtistIDs   []string `cbor:"3,keyasint" json:"artist_ids"`
	ReleaseDate string   `cbor:"4,keyasint,omitempty" json:"release_date,omitempty"` // YYYY, YYYY-MM or YYYY-MM-DD
	Label       string   `cbor:"5,keyasint,omitempty" json:"label,omitempty"`
	Genres      []string `cbor:"6,keyasint,omitempty" json:"genres,omitempty"`
	// CoverArt references the cover image: "blob:" and 64 lowercase hex
	// digits (a SHA-256 in the relay's blob store) or an https URL.
	CoverArt   string  `cbor:"7,keyasint,omitempty" json:"cover_art,omitempty"`
	Popularity float64 `cbor:"8,keyasint,omitempty" json:"popularity,omitempty"`
}

// Track is an imported track, without audio until ingest attaches a
// catalog track to it (by ISRC or id). ArtistIDs are the main artists
// (at least one), FeaturedArtistIDs the featured ones.
type Track struct {
	ID                string   `cbor:"1,keyasint" json:"id"`
	Title             string   `cbor:"2,keyasint" json:"title"`
	ArtistIDs         []string `cbor:"3,keyasint" json:"artist_ids"`
	FeaturedArtistIDs []string `cbor:"4,keyasint,omitempty" json:"featured_artist_ids,omitempty"`
	AlbumID           string   `cbor:"5,keyasint" json:"album_id"`
	DurationMS        int      `cbor:"6,keyasint" json:"duration_ms"`
	DiscNumber        int      `cbor:"7,keyasint" json:"disc_number"`
	TrackNumber       int      `cbor:"8,keyasint" json:"track_number"`
	ISRC              string   `cbor:"9,keyasint,omitempty" json:"isrc,omitempty"`
	Explicit          bool     `cbor:"10,keyasint,omitempty" json:"explicit,omitempty"`
	Popularity        float64  `cbor:"11,keyasint,omitempty" json:"popularity,omitempty"`
}

// Record is one parsed line: exactly one of Artist, Album, Track is set,
// as Kind says.
type Record struct {
	Kind   Kind
	Artist *Artist
	Album  *Album
	Track  *Track
}

// ID returns the record's id.
func (r Record) ID() string {
	switch r.Kind {
	case KindArtist:
		return r.Artist.ID
	case KindAlbum:
		return r.Album.ID
	default:
		return r.Track.ID
	}
}

// Limits of a record.
const (
	MaxLineBytes  = 64 << 10 // one JSON line
	MaxIDBytes    = 64
	MaxTextBytes  = 512 // a name, title or label
	MaxArtists    = 32  // main plus featured artists of a track or album
	MaxGenres     = 16
	MaxGenreBytes = 64
	MaxCoverBytes = 1024
	MaxDurationMS = 24 * 3600 * 1000
	MaxDisc       = 99
	MaxTrackNo    = 999
	MaxPopularity = 1e12
)

// ErrInvalid marks an invalid line; the error names the field.
var ErrInvalid = errors.New("metadata: invalid record")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// line is the JSON shape of every kind (type selects the fields allowed).
type artistLine struct {
	Type string `json:"type"`
	Artist
}
type albumLine struct {
	Type string `json:"type"`
	Album
}
type trackLine struct {
	Type string `json:"type"`
	Track
}

// ParseLine parses and checks one JSON line (without its newline). Unknown
// fields, data after the object (refused by the first decode), and values outside the limits are errors wrapping
// ErrInvalid. References to other records are not checked here.
func ParseLine(b []byte) (Record, error) {
	if len(b) > MaxLineBytes {
		return Record{}, invalid("line of %d bytes, limit is %d", len(b), MaxLineBytes)
	}
	if err := checkKeys(b); err != nil {
		return Record{}, err
	}
	var probe struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return Record{}, invalid("%v", strictjson.Problem(err, "the line"))
	}
	if err := strictjson.CheckUTF8(b); err != nil { // b is valid JSON now
		return Record{}, invalid("%v", err)
	}
	if probe.Type == nil {
		return Record{}, invalid(`no "type" (want "artist", "album" or "track")`)
	}
	var rec Record
	var target any
	switch Kind(*probe.Type) {
	case KindArtist:
		l := &artistLine{}
		target, rec = l, Record{Kind: KindArtist, Artist: &l.Artist}
	case KindAlbum:
		l := &albumLine{}
		target, rec = l, Record{Kind: KindAlbum, Album: &l.Album}
	case KindTrack:
		l := &trackLine{}
		target, rec = l, Record{Kind: KindTrack, Track: &l.Track}
	default:
		return Record{}, invalid("type %s (want \"artist\", \"album\" or \"track\")", safetext.Quote(*probe.Type))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(target); err != nil {
		return Record{}, invalid("%v", strictjson.Problem(err, "the line"))
	}
	if err := rec.check(); err != nil {
		return Record{}, err
	}
	return rec, nil
}

// lineKeys are the keys a line may have, spelt exactly: "type" and the
// JSON names of Artist's, Album's and Track's fields, each with its own
// bit (checkKeys' set of the keys seen).
var lineKeys = func() map[string]uint32 {
	keys := map[string]uint32{"type": 1}
	for _, t := range []reflect.Type{reflect.TypeFor[Artist](), reflect.TypeFor[Album](), reflect.TypeFor[Track]()} {
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if _, ok := keys[name]; !ok {
				keys[name] = 1 << len(keys)
			}
		}
	}
	return keys
}()

// checkKeys refuses a line whose top-level object repeats a key or has a
// key not spelt exactly as documented (escapes included).
// encoding/json takes the last of repeated keys and matches keys without
// regard to case ("NAME", "Id"), so such a line would import other
// values than a stricter reader of the same file (a label's own
// validator) sees. It scans the bytes
// without allocating; syntax errors are left to the decoding that
// follows.
func checkKeys(b []byte) error {
	depth, seen := 0, uint32(0)
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case '"':
			j, escaped := i+1, false
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					escaped = true
					j++
				}
			}
			if j >= len(b) {
				return nil
			}
			if depth == 1 && followedByColon(b[j+1:]) {
				key := b[i+1 : j]
				bit, ok := lineKeys[string(key)]
				switch {
				case escaped || !ok:
					return invalid("unknown field %s (keys are lower case, as documented)", safetext.Quote(string(key)))
				case seen&bit != 0:
					return invalid("field %q given twice", key)
				}
				seen |= bit
			}
			i = j
		}
	}
	return nil
}

// followedByColon reports whether b starts with a colon after white space.
func followedByColon(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c == ':'
	}
	return false
}

func (r Record) check() error {
	switch r.Kind {
	case KindArtist:
		a := r.Artist
		return first(checkID("id", a.ID), checkText("name", a.Name, true), checkPopularity(a.Popularity))
	case KindAlbum:
		a := r.Album
		if err := first(checkID("id", a.ID), checkText("title", a.Title, true), checkIDs("artist_ids", a.ArtistIDs, 1),
			checkDate(a.ReleaseDate), checkText("label", a.Label, false), checkCover(a.CoverArt), checkPopularity(a.Popularity)); err != nil {
			return err
		}
		if len(a.Genres) > MaxGenres {
			return invalid("genres: %d, limit is %d", len(a.Genres), MaxGenres)
		}
		for _, g := range a.Genres {
			if g == "" || len(g) > MaxGenreBytes {
				return invalid("genres: %s (want 1 to %d bytes)", safetext.Quote(g), MaxGenreBytes)
			}
			if err := safetext.Check(g); err != nil {
				return invalid("genres: %s: %v", safetext.Quote(g), err)
			}
		}
		return nil
	default:
		t := r.Track
		if err := first(checkID("id", t.ID), checkText("title", t.Title, true), checkIDs("artist_ids", t.ArtistIDs, 1),
			checkIDs("featured_artist_ids", t.FeaturedArtistIDs, 0), checkID("album_id", t.AlbumID), checkISRC(t.ISRC),
			checkPopularity(t.Popularity)); err != nil {
			return err
		}
		if n := len(t.ArtistIDs) + len(t.FeaturedArtistIDs); n > MaxArtists {
			return invalid("%d artists, limit is %d", n, MaxArtists)
		}
		for _, f := range t.FeaturedArtistIDs {
			for _, m := range t.ArtistIDs {
				if f == m {
					return invalid("artist %q is both main and featured", f)
				}
			}
		}
		switch {
		case t.DurationMS < 1 || t.DurationMS > MaxDurationMS:
			return invalid("duration_ms %d: want 1 to %d", t.DurationMS, MaxDurationMS)
		case t.DiscNumber < 1 || t.DiscNumber > MaxDisc:
			return invalid("disc_number %d: want 1 to %d", t.DiscNumber, MaxDisc)
		case t.TrackNumber < 1 || t.TrackNumber > MaxTrackNo:
			return invalid("track_number %d: want 1 to %d", t.TrackNumber, MaxTrackNo)
		}
		return nil
	}
}

func first(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkID accepts 1 to MaxIDBytes of ASCII letters, digits, '-', '_' and
// '.' (ids are store key parts and URL path segments).
func checkID(field, id string) error {
	if id == "" || len(id) > MaxIDBytes {
		return invalid("%s %s: want 1 to %d characters", field, safetext.Quote(id), MaxIDBytes)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return invalid("%s %s: only letters, digits, '-', '_' and '.'", field, safetext.Quote(id))
		}
	}
	return nil
}

func checkIDs(field string, ids []string, min int) error {
	if len(ids) < min {
		return invalid("%s: want at least %d", field, min)
	}
	if len(ids) > MaxArtists {
		return invalid("%s: %d, limit is %d", field, len(ids), MaxArtists)
	}
	for i, id := range ids {
		if err := checkID(field, id); err != nil {
			return err
		}
		for _, prev := range ids[:i] {
			if prev == id {
				return invalid("%s: %q twice", field, id)
			}
		}
	}
	return nil
}

func checkText(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return invalid("%s: empty", field)
	case len(s) > MaxTextBytes:
		return invalid("%s: %d bytes, limit is %d", field, len(s), MaxTextBytes)
	}
	if err := safetext.Check(s); err != nil {
		return invalid("%s: %v", field, err)
	}
	return nil
}

func checkDate(d string) error {
	if d == "" || model.ValidReleaseDate(d) {
		return nil
	}
	return invalid("release_date %s: want YYYY, YYYY-MM or YYYY-MM-DD", safetext.Quote(d))
}

func checkCover(c string) error {
	switch {
	case c == "":
		return nil
	case len(c) > MaxCoverBytes:
		return invalid("cover_art: %d bytes, limit is %d", len(c), MaxCoverBytes)
	case strings.HasPrefix(c, "blob:"):
		h := c[len("blob:"):]
		if len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return invalid("cover_art %s: want blob: and 64 lowercase hex digits", safetext.Quote(c))
		}
		return nil
	case strings.HasPrefix(c, "https://") && len(c) > len("https://") && safetext.Check(c) == nil && !strings.ContainsAny(c, " \"<>\\"):
		return nil
	}
	return invalid("cover_art %s: want blob:<sha256 hex> or an https URL", safetext.Quote(c))
}

// checkISRC accepts the empty string or an ISRC (model.ValidISRC).
func checkISRC(s string) error {
	if s != "" && !model.ValidISRC(s) {
		return invalid("isrc %s: want CCXXXYYNNNNN (12 characters, upper case, no hyphens)", safetext.Quote(s))
	}
	return nil
}

func checkPopularity(p float64) error {
	if math.IsNaN(p) || p < 0 || p > MaxPopularity {
		return invalid("popularity %v: want 0 to %g", p, MaxPopularity)
	}
	return nil
}
