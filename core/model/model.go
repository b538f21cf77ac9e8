// Package model holds the domain types shared by every Segue package:
// identifiers, catalog entities, audio tiers, manifests and play events.
//
// It is a leaf package: it imports only the standard library, so the store,
// crypto, sync, player, core and server packages can all depend on it. Types
// here are plain values; every slice a function returns is owned by the caller.
package model

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// TrackID identifies a track in the catalog. It is derived from the master
// audio at ingest, so re-ingesting the same master yields the same id.
type TrackID string

// AlbumID identifies an album in the catalog.
type AlbumID string

// ArtistID identifies an artist in the catalog.
type ArtistID string

// DeviceID identifies a registered device: the lowercase hex SHA-256 of its
// Ed25519 public key, truncated to 16 bytes.
type DeviceID string

// UserID identifies an account on the relay.
type UserID string

// MaxUserIDLen is the longest account name, in bytes.
const MaxUserIDLen = 64

// ValidUserID reports whether u has the relay's account-name syntax:
// 1 to MaxUserIDLen bytes of a–z, 0–9, '_', '.' and '-', the first a
// letter or digit. No account can have any other name.
func ValidUserID(u UserID) bool {
	if u == "" || len(u) > MaxUserIDLen {
		return false
	}
	for i := range len(u) {
		switch c := u[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// MaxIDLen is the longest catalog or document id, in bytes.
const MaxIDLen = 128

// ValidID reports whether s can be an id (track, album, artist, playlist
// document): non-empty, at most MaxIDLen bytes, and free of '/' and NUL so
// it is safe as one component of a store key or URL path. The relay and
// the engine apply the same rule.
func ValidID(s string) bool {
	return s != "" && len(s) <= MaxIDLen && !strings.ContainsAny(s, "/\x00")
}

// Tier is an audio quality tier. The zero value is not a valid tier.
type Tier string

// The four tiers of DESIGN §3. All are Ogg Vorbis.
const (
	TierLow      Tier = "low"       // ≈24 kbps, encoded at a lower sample rate
	TierNormal   Tier = "normal"    // ≈96 kbps (oggenc -q 2)
	TierHigh     Tier = "high"      // ≈160 kbps (oggenc -q 5)
	TierVeryHigh Tier = "very_high" // ≈320 kbps (oggenc -q 9)
)

// Tiers lists every tier from lowest to highest quality.
var Tiers = []Tier{TierLow, TierNormal, TierHigh, TierVeryHigh}

// ErrInvalidTier is returned when a string names no tier.
var ErrInvalidTier = errors.New("model: invalid tier")

// ParseTier returns the tier named s, or ErrInvalidTier.
func ParseTier(s string) (Tier, error) {
	for _, t := range Tiers {
		if string(t) == s {
			return t, nil
		}
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidTier, s)
}

// Valid reports whether t is one of the four tiers.
func (t Tier) Valid() bool {
	_, err := ParseTier(string(t))
	return err == nil
}

// Index returns the tier's position in Tiers (0 for low), or -1 if invalid.
func (t Tier) Index() int {
	for i, x := range Tiers {
		if x == t {
			return i
		}
	}
	return -1
}

// Loudness is a measurement of a master per EBU R128 / ITU-R BS.1770.
type Loudness struct {
	IntegratedLUFS float64 `cbor:"1,keyasint" json:"integrated_lufs"`
	TruePeakDBTP   float64 `cbor:"2,keyasint" json:"true_peak_dbtp"`
}

// RightsShare is one rights holder's share of a track's royalties: the
// party paid, its role and its exact share. The shares of a track sum to
// exactly 1 (ValidateRights). Records stored before roles existed (keys
// 1 holder, 2 float share) decode with a zero Share and so fail
// ValidateRights: such tracks count as having no rights.
type RightsShare struct {
	Party string `cbor:"1,keyasint" json:"party"`
	Role  Role   `cbor:"3,keyasint" json:"role"`
	Share Share  `cbor:"4,keyasint" json:"share"`
}

// Role is a rights holder's role on a track.
type Role string

// The rights roles of an album JSON's rights entries.
const (
	RolePerformer   Role = "performer"
	RoleSongwriter  Role = "songwriter"
	RoleLabel       Role = "label"
	RoleDistributor Role = "distributor"
)

// Valid reports whether r is one of the four roles.
func (r Role) Valid() bool {
	return r == RolePerformer || r == RoleSongwriter || r == RoleLabel || r == RoleDistributor
}

// ShareScale is the denominator of a Share: shares are exact multiples
// of 10⁻⁹ (nine fraction digits), so they add without rounding.
const ShareScale = 1_000_000_000

// Share is an exact fraction of a track's royalties in units of
// 1/ShareScale. In JSON it is a decimal between 0 and 1 with at most nine
// fraction digits, as a number (0.25) or a string ("0.25"); it is written
// as a string. Parsing is exact: no binary floating point is involved.
type Share uint64

// ErrBadShare is returned for a share that is not a decimal in (0, 1]
// with at most nine fraction digits.
var ErrBadShare = errors.New("model: share must be a decimal in (0, 1] with at most 9 fraction digits")

// ParseShare parses a decimal such as "0.25", "1", "0.333333333" exactly.
func ParseShare(s string) (Share, error) {
	whole, frac, dot := strings.Cut(s, ".")
	if (whole != "0" && whole != "1") || (dot && (frac == "" || len(frac) > 9)) {
		return 0, fmt.Errorf("%w: %q", ErrBadShare, s)
	}
	var v uint64
	for _, c := range frac {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadShare, s)
		}
		v = v*10 + uint64(c-'0')
	}
	for range 9 - len(frac) {
		v *= 10
	}
	if whole == "1" {
		v += ShareScale
	}
	if v == 0 || v > ShareScale {
		return 0, fmt.Errorf("%w: %q", ErrBadShare, s)
	}
	return Share(v), nil
}

// String formats the share as a decimal with the trailing zeros dropped
// ("0.25", "1").
func (s Share) String() string {
	if s%ShareScale == 0 {
		return strconv.FormatUint(uint64(s)/ShareScale, 10)
	}
	f := fmt.Sprintf("%09d", uint64(s)%ShareScale)
	return strconv.FormatUint(uint64(s)/ShareScale, 10) + "." + strings.TrimRight(f, "0")
}

// MarshalJSON writes the share as a JSON string ("0.25").
func (s Share) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// UnmarshalJSON accepts a JSON number or string holding a decimal share.
func (s *Share) UnmarshalJSON(b []byte) error {
	str := string(b)
	if len(str) >= 2 && str[0] == '"' && str[len(str)-1] == '"' {
		str = str[1 : len(str)-1]
	}
	v, err := ParseShare(str)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ErrBadRights is returned by ValidateRights.
var ErrBadRights = errors.New("model: bad rights")

// ValidateRights checks a track's rights: each entry names a party (at
// most 256 bytes) and a valid role, has a share in (0, 1], no (party,
// role) repeats, and the shares sum to exactly 1. An empty list is valid
// (a track without rights; see server/royalties for how it is paid).
func ValidateRights(rs []RightsShare) error {
	if len(rs) == 0 {
		return nil
	}
	if len(rs) > 64 {
		return fmt.Errorf("%w: %d holders, at most 64", ErrBadRights, len(rs))
	}
	var sum uint64
	seen := make(map[[2]string]bool, len(rs))
	for _, r := range rs {
		switch {
		case strings.TrimSpace(r.Party) == "" || len(r.Party) > 256:
			return fmt.Errorf("%w: party %q (want a name of 1 to 256 bytes)", ErrBadRights, r.Party)
		case !r.Role.Valid():
			return fmt.Errorf("%w: party %q role %q (want performer, songwriter, label or distributor)", ErrBadRights, r.Party, r.Role)
		case r.Share == 0 || r.Share > ShareScale:
			return fmt.Errorf("%w: party %q share %s not in (0, 1]", ErrBadRights, r.Party, r.Share)
		case seen[[2]string{r.Party, string(r.Role)}]:
			return fmt.Errorf("%w: party %q role %q listed twice", ErrBadRights, r.Party, r.Role)
		}
		seen[[2]string{r.Party, string(r.Role)}] = true
		sum += uint64(r.Share)
	}
	if sum != ShareScale {
		return fmt.Errorf("%w: shares sum to %s, not exactly 1", ErrBadRights, Share(sum))
	}
	return nil
}

// Artist is a catalog artist.
type Artist struct {
	ID   ArtistID `cbor:"1,keyasint" json:"id"`
	Name string   `cbor:"2,keyasint" json:"name"`
}

// ValidReleaseDate reports whether d is a release date as the catalog
// holds them: YYYY, YYYY-MM or YYYY-MM-DD, a real calendar date.
func ValidReleaseDate(d string) bool {
	for _, layout := range []string{"2006", "2006-01", time.DateOnly} {
		if len(d) == len(layout) {
			if _, err := time.Parse(layout, d); err == nil {
				return true
			}
		}
	}
	return false
}

// ValidISRC reports whether s is an ISRC as the catalog holds them: 2
// letters (country), 3 letters or digits (registrant), 7 digits (year
// and designation), in upper case without hyphens.
func ValidISRC(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		var ok bool
		switch {
		case i < 2:
			ok = c >= 'A' && c <= 'Z'
		case i < 5:
			ok = c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		default:
			ok = c >= '0' && c <= '9'
		}
		if !ok {
			return false
		}
	}
	return true
}

// Album is a catalog album. TrackIDs are ordered by disc, then track number.
type Album struct {
	ID          AlbumID    `cbor:"1,keyasint" json:"id"`
	Title       string     `cbor:"2,keyasint" json:"title"`
	ArtistIDs   []ArtistID `cbor:"3,keyasint" json:"artist_ids"`
	ReleaseDate string     `cbor:"4,keyasint" json:"release_date,omitempty"` // ValidReleaseDate: YYYY, YYYY-MM or YYYY-MM-DD
	TrackIDs    []TrackID  `cbor:"5,keyasint" json:"track_ids"`
	// Loudness is the album's integrated loudness over all its tracks, for
	// album-gain playback.
	Loudness Loudness `cbor:"6,keyasint" json:"loudness"`
	// ReleaseAt, when non-zero, is the album's embargo: the instant, in
	// Unix seconds, before which the relay issues no stream key and no
	// license for its tracks, by the relay's own clock (Embargoed). Its
	// encrypted blobs and signed manifests are served before it, so edges
	// can pre-position them. It is distinct from ReleaseDate, which is
	// catalog metadata and enforces nothing.
	ReleaseAt int64 `cbor:"16,keyasint,omitempty" json:"release_at,omitempty"`
}

// Embargoed reports whether the album's tracks are still under embargo
// at now (ReleaseAt is set and now is before it).
func (a Album) Embargoed(now time.Time) bool {
	return a.ReleaseAt != 0 && now.Unix() < a.ReleaseAt
}

// Track is a catalog track.
type Track struct {
	ID          TrackID       `cbor:"1,keyasint" json:"id"`
	Title       string        `cbor:"2,keyasint" json:"title"`
	ArtistIDs   []ArtistID    `cbor:"3,keyasint" json:"artist_ids"`
	AlbumID     AlbumID       `cbor:"4,keyasint" json:"album_id"`
	TrackNumber int           `cbor:"5,keyasint" json:"track_number"`
	DiscNumber  int           `cbor:"6,keyasint" json:"disc_number"`
	ISRC        string        `cbor:"7,keyasint" json:"isrc,omitempty"`
	ReleaseDate string        `cbor:"8,keyasint" json:"release_date,omitempty"`
	Rights      []RightsShare `cbor:"9,keyasint" json:"rights,omitempty"`
	// SampleRate and Samples describe the master: Samples is the exact
	// number of sample frames, which every tier decodes to (after the low
	// tier is resampled back to SampleRate).
	SampleRate int      `cbor:"10,keyasint" json:"sample_rate"`
	Channels   int      `cbor:"11,keyasint" json:"channels"`
	Samples    int64    `cbor:"12,keyasint" json:"samples"`
	Loudness   Loudness `cbor:"13,keyasint" json:"loudness"`
	Tiers      []Tier   `cbor:"14,keyasint" json:"tiers"`
	// MasterSHA256 is the hash of the master file, the basis of the id.
	MasterSHA256 [32]byte `cbor:"15,keyasint" json:"-"`
	// Features are measured from the master at ingest; nil when the track
	// was ingested without a master (pre-encoded tiers only).
	Features *AudioFeatures `cbor:"16,keyasint,omitempty" json:"features,omitempty"`
}

// AudioFeatures describe how a track sounds, for recommendations (issue
// 14): computed by server/ingest/features from the master's PCM.
type AudioFeatures struct {
	TempoBPM     float64 `cbor:"1,keyasint" json:"tempo_bpm"`     // 0 when no pulse was found
	BeatStrength float64 `cbor:"2,keyasint" json:"beat_strength"` // onset autocorrelation at the beat period, 0..1
	Energy       float64 `cbor:"3,keyasint" json:"energy"`        // RMS of the mono downmix, full scale = 1
	CentroidHz   float64 `cbor:"4,keyasint" json:"centroid_hz"`   // magnitude-weighted mean frequency
	OnsetRate    float64 `cbor:"5,keyasint" json:"onset_rate"`    // onsets per second
	Key          int     `cbor:"6,keyasint" json:"key"`           // pitch class of the tonic, 0 = C … 11 = B
	Minor        bool    `cbor:"7,keyasint" json:"minor"`         // mode: false major, true minor
	KeyStrength  float64 `cbor:"8,keyasint" json:"key_strength"`  // correlation with the key profile, -1..1
}

// Duration returns the exact duration of the master.
func (t Track) Duration() time.Duration {
	if t.SampleRate <= 0 {
		return 0
	}
	return time.Duration(t.Samples * int64(time.Second) / int64(t.SampleRate))
}

// BlobRef describes one encrypted blob: its size and the SHA-256 of its
// encrypted bytes.
type BlobRef struct {
	Size   int64    `cbor:"1,keyasint" json:"size"`
	SHA256 [32]byte `cbor:"2,keyasint" json:"sha256"`
}

// Chunk describes one audio chunk of a (track, tier) stream.
//
// A chunk's plaintext is PrimerSize bytes of primer page (absent for chunk
// 0) followed by whole Ogg pages. Decoding the header blob, then the whole
// chunk (primer included), yields exactly Samples sample frames, the ones
// at [FirstSample, FirstSample+Samples) of the stream. For continuous
// playback the primer is skipped: header + chunk 0 + chunk 1[PrimerSize:] +
// ... is the original Ogg stream, byte for byte.
type Chunk struct {
	Index       int     `cbor:"1,keyasint" json:"index"`
	FirstSample int64   `cbor:"2,keyasint" json:"first_sample"`
	Samples     int64   `cbor:"3,keyasint" json:"samples"`
	PrimerSize  int64   `cbor:"4,keyasint" json:"primer_size"`
	Blob        BlobRef `cbor:"5,keyasint" json:"blob"`
}

// Manifest describes one (track, tier) stream: format, exact length,
// loudness and every blob with its hash. Manifests travel signed by the
// catalog key (see package crypto); the blob index used to derive the
// AES-CTR counter is 0 for the header and i+1 for chunk i.
type Manifest struct {
	Version      int      `cbor:"1,keyasint" json:"version"`
	TrackID      TrackID  `cbor:"2,keyasint" json:"track_id"`
	Tier         Tier     `cbor:"3,keyasint" json:"tier"`
	Codec        string   `cbor:"4,keyasint" json:"codec"` // "vorbis"
	SampleRate   int      `cbor:"5,keyasint" json:"sample_rate"`
	Channels     int      `cbor:"6,keyasint" json:"channels"`
	TotalSamples int64    `cbor:"7,keyasint" json:"total_samples"`
	Loudness     Loudness `cbor:"8,keyasint" json:"loudness"`
	Header       BlobRef  `cbor:"9,keyasint" json:"header"`
	Chunks       []Chunk  `cbor:"10,keyasint" json:"chunks"`
	// Bitrate is the nominal bitrate in bits per second, for the player's
	// "can this link sustain the tier" estimate.
	Bitrate int `cbor:"11,keyasint" json:"bitrate"`
	// Timing places a tier encoded at a rate other than the master's on
	// the master's time line, so the player joins an album's tracks
	// sample-exactly; nil for a tier at the master's rate (and for
	// resampled tiers ingested before it existed, which play with their
	// phase reset at every track).
	Timing *Timing `cbor:"12,keyasint,omitempty" json:"timing,omitempty"`
}

// Clone returns a deep copy of m: changing it, its chunks or its timing
// leaves m as it was.
func (m *Manifest) Clone() *Manifest {
	c := *m
	c.Chunks = slices.Clone(m.Chunks)
	if m.Timing != nil {
		t := *m.Timing
		c.Timing = &t
	}
	return &c
}

// Timing describes how a resampled tier's samples sit on the master's
// time line. A gapless run is a sequence of consecutive tracks of one
// album (same master rate and channels) that ingest resampled as one
// signal: sample j of the run's resampled signal is at master frame
// j·SourceRate/SampleRate of the run, and a track holds exactly the
// resampled samples whose instants fall inside its span
// [RunOffset, RunOffset+SourceSamples) of master frames (see
// ResampledSpan), so the tracks of a run played in order are the run
// resampled once.
type Timing struct {
	// SourceRate is the master's sample rate in Hz.
	SourceRate int `cbor:"1,keyasint" json:"source_rate"`
	// RunOffset is the number of master frames in the run before this
	// track (0 for the run's first track).
	RunOffset int64 `cbor:"2,keyasint" json:"run_offset"`
	// SourceSamples is the master's exact length in frames (Track.Samples).
	SourceSamples int64 `cbor:"3,keyasint" json:"source_samples"`
	// Follows is the track this one continues in the run; empty for the
	// run's first track.
	Follows TrackID `cbor:"4,keyasint,omitempty" json:"follows,omitempty"`
}

// MaxRunFrames bounds Timing.RunOffset+SourceSamples (≈ 18 days at 44.1
// kHz), so the exact rational arithmetic on it cannot overflow.
const MaxRunFrames = 1 << 36

// ResampledSpan returns the resampled samples of a track whose master
// frames are [offset, offset+samples) of its run, with the run's master at
// from Hz resampled to to Hz: the run's resampled samples
// [first, first+n), those whose instants j·from/to lie in the track's span,
// first = ⌈offset·to/from⌉. The spans of consecutive tracks tile the run's
// resampled signal exactly, and a run's first track (offset 0) gets
// ⌈samples·to/from⌉, the length of the track resampled alone. Arguments
// must be positive and offset+samples at most MaxRunFrames.
func ResampledSpan(offset, samples int64, from, to int) (first, n int64) {
	ceil := func(a int64) int64 { return (a*int64(to) + int64(from) - 1) / int64(from) }
	first = ceil(offset)
	return first, ceil(offset+samples) - first
}

// ManifestVersion is the manifest format this code writes and reads.
const ManifestVersion = 1

// CodecVorbis is the only codec of manifest version 1.
const CodecVorbis = "vorbis"

// Validate checks the manifest's internal consistency: known version and
// codec, a valid tier, positive rate and channels, chunks numbered from 0
// and contiguous in samples, summing to TotalSamples, and no primer on
// chunk 0. It bounds sizes so a hostile manifest cannot make a client
// allocate without limit.
func (m *Manifest) Validate() error {
	switch {
	case m.Version != ManifestVersion:
		return fmt.Errorf("%w: version %d", ErrBadManifest, m.Version)
	case m.Codec != CodecVorbis:
		return fmt.Errorf("%w: codec %q", ErrBadManifest, m.Codec)
	case !m.Tier.Valid():
		return fmt.Errorf("%w: tier %q", ErrBadManifest, m.Tier)
	case m.TrackID == "":
		return fmt.Errorf("%w: empty track id", ErrBadManifest)
	case m.SampleRate < 1000 || m.SampleRate > 384000:
		return fmt.Errorf("%w: sample rate %d", ErrBadManifest, m.SampleRate)
	case m.Channels < 1 || m.Channels > 255:
		return fmt.Errorf("%w: %d channels", ErrBadManifest, m.Channels)
	case len(m.Chunks) == 0 || len(m.Chunks) > MaxChunks:
		return fmt.Errorf("%w: %d chunks", ErrBadManifest, len(m.Chunks))
	case m.Header.Size <= 0 || m.Header.Size > MaxBlobSize:
		return fmt.Errorf("%w: header size %d", ErrBadManifest, m.Header.Size)
	}
	var next int64
	for i, c := range m.Chunks {
		switch {
		case c.Index != i:
			return fmt.Errorf("%w: chunk %d has index %d", ErrBadManifest, i, c.Index)
		case c.FirstSample != next:
			return fmt.Errorf("%w: chunk %d starts at sample %d, want %d", ErrBadManifest, i, c.FirstSample, next)
		case c.Samples < 0:
			return fmt.Errorf("%w: chunk %d has %d samples", ErrBadManifest, i, c.Samples)
		case c.Blob.Size <= 0 || c.Blob.Size > MaxBlobSize:
			return fmt.Errorf("%w: chunk %d size %d", ErrBadManifest, i, c.Blob.Size)
		case c.PrimerSize < 0 || c.PrimerSize >= c.Blob.Size:
			return fmt.Errorf("%w: chunk %d primer size %d", ErrBadManifest, i, c.PrimerSize)
		case i == 0 && c.PrimerSize != 0:
			return fmt.Errorf("%w: chunk 0 has a primer", ErrBadManifest)
		}
		next += c.Samples
	}
	if next != m.TotalSamples {
		return fmt.Errorf("%w: chunks hold %d samples, total says %d", ErrBadManifest, next, m.TotalSamples)
	}
	if t := m.Timing; t != nil {
		switch {
		case t.SourceRate < 1000 || t.SourceRate > 384000 || t.SourceRate == m.SampleRate:
			return fmt.Errorf("%w: timing source rate %d for a %d Hz stream", ErrBadManifest, t.SourceRate, m.SampleRate)
		case t.RunOffset < 0 || t.SourceSamples <= 0 || t.RunOffset > MaxRunFrames-t.SourceSamples:
			return fmt.Errorf("%w: timing offset %d, %d samples", ErrBadManifest, t.RunOffset, t.SourceSamples)
		case (t.RunOffset == 0) != (t.Follows == ""):
			return fmt.Errorf("%w: timing offset %d follows %q", ErrBadManifest, t.RunOffset, t.Follows)
		}
		if _, n := ResampledSpan(t.RunOffset, t.SourceSamples, t.SourceRate, m.SampleRate); n != m.TotalSamples {
			return fmt.Errorf("%w: timing maps %d master frames to %d samples, total says %d", ErrBadManifest, t.SourceSamples, n, m.TotalSamples)
		}
	}
	return nil
}

// ChunkAt returns the index of the chunk holding sample s, or -1 when s is
// outside the stream.
func (m *Manifest) ChunkAt(s int64) int {
	if s < 0 || s >= m.TotalSamples {
		return -1
	}
	lo, hi := 0, len(m.Chunks)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if m.Chunks[mid].FirstSample <= s {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// Limits on manifests received from the network.
const (
	MaxChunks   = 1 << 16  // ≈ 6 days of audio at 8 s per chunk
	MaxBlobSize = 16 << 20 // one blob; real chunks are well under 1 MiB
)

// ErrBadManifest is returned for a manifest that fails Validate.
var ErrBadManifest = errors.New("model: bad manifest")

// EndReason says why a play ended.
type EndReason string

// The end reasons of a play event.
const (
	EndCompleted EndReason = "completed"
	EndSkipped   EndReason = "skipped"
	EndStopped   EndReason = "stopped"
	EndError     EndReason = "error"
)

// Valid reports whether r is one of the end reasons above.
func (r EndReason) Valid() bool {
	switch r {
	case EndCompleted, EndSkipped, EndStopped, EndError:
		return true
	}
	return false
}

// StreamThreshold is the played duration from which a play counts as a
// stream for royalties.
const StreamThreshold = 30 * time.Second

// PlayContext names what a track was played from: an album, a playlist,
// an artist, or nothing (a single track).
type PlayContext struct {
	Kind string `cbor:"1,keyasint" json:"kind"` // "album", "playlist", "artist", "track", "" for none
	ID   string `cbor:"2,keyasint" json:"id"`
}

// PlayEvent records one play of one track on one device. EventID is unique
// (random 16 bytes, hex); the relay counts each play exactly once by the
// device's history sequence number (api.PlayRecord.Seq).
type PlayEvent struct {
	EventID  string        `cbor:"1,keyasint" json:"event_id"`
	Device   DeviceID      `cbor:"2,keyasint" json:"device"`
	TrackID  TrackID       `cbor:"3,keyasint" json:"track_id"`
	Tier     Tier          `cbor:"4,keyasint" json:"tier"`
	Context  PlayContext   `cbor:"5,keyasint" json:"context"`
	Started  time.Time     `cbor:"6,keyasint" json:"started"`
	Played   time.Duration `cbor:"7,keyasint" json:"played"` // exact, from samples played, at most the track's length
	End      EndReason     `cbor:"8,keyasint" json:"end"`
	Offline  bool          `cbor:"9,keyasint" json:"offline"`
	IsStream bool          `cbor:"10,keyasint" json:"is_stream"` // Played ≥ StreamThreshold
	// Muted: the output volume was 0 when the play ended.
	Muted bool `cbor:"11,keyasint,omitempty" json:"muted,omitempty"`
	// Source is where the audio came from (SourceStream, SourceDownload);
	// empty in events recorded before it existed, read as SourceStream.
	Source PlaySource `cbor:"12,keyasint,omitempty" json:"source,omitempty"`
	// TrustedTime: Started was corrected to the downloads' trusted
	// license clock (offline plays), not the device's wall clock.
	TrustedTime bool `cbor:"13,keyasint,omitempty" json:"trusted_time,omitempty"`
}

// PlaySource says where a play's audio came from.
type PlaySource string

// The play sources of a play event.
const (
	SourceStream   PlaySource = "stream"
	SourceDownload PlaySource = "download"
)

// Valid reports whether s is one of the play sources above (not empty).
func (s PlaySource) Valid() bool { return s == SourceStream || s == SourceDownload }
