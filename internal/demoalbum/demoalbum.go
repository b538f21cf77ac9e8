package demoalbum

import (
	"embed"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"

	"github.com/segue-fm/segue/core/model"
)

// FS holds the committed fixtures under "data/": album.json and, for each
// of the four tracks, one Ogg Vorbis file per tier named in album.json.
// The album.json format is the ingest sidecar format, so the album is
// ingested with no encoder installed.
//
//go:embed data
var FS embed.FS

// AlbumPath is the path of the album sidecar inside FS.
const AlbumPath = "data/album.json"

// Meta is the demo album's album.json: the ingest sidecar fields plus the
// generator's own records (cut offsets, exact sample counts, loudness).
type Meta struct {
	Album        string              `json:"album"`
	AlbumArtists []string            `json:"album_artists"`
	ReleaseDate  string              `json:"release_date"`
	Rights       []model.RightsShare `json:"rights"`
	Tracks       []TrackMeta         `json:"tracks"`
}

// TrackMeta is one track of Meta.
type TrackMeta struct {
	Title        string                `json:"title"`
	Artists      []string              `json:"artists"`
	TrackNumber  int                   `json:"track_number"`
	DiscNumber   int                   `json:"disc_number"`
	ISRC         string                `json:"isrc"`
	MasterSHA256 string                `json:"master_sha256"`
	SampleRate   int                   `json:"sample_rate"`
	Channels     int                   `json:"channels"`
	Samples      int64                 `json:"samples"`
	Loudness     model.Loudness        `json:"loudness"`
	Tiers        map[model.Tier]string `json:"tiers"`
	// CutOffset is the track's first sample within the synthesised piece.
	CutOffset int64 `json:"cut_offset"`
}

// Album parses the committed album.json. The result is freshly allocated.
func Album() (Meta, error) {
	var m Meta
	b, err := FS.ReadFile(AlbumPath)
	if err != nil {
		return m, fmt.Errorf("demoalbum: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("demoalbum: parse %s: %w", AlbumPath, err)
	}
	return m, nil
}

// WriteWAV writes interleaved float32 samples as a 32-bit IEEE-float WAV
// file (format tag 3), the master format of the demo album.
func WriteWAV(w io.Writer, samples []float32, rate, channels int) error {
	if channels <= 0 || len(samples)%channels != 0 {
		return fmt.Errorf("demoalbum: %d samples do not fill %d channels", len(samples), channels)
	}
	dataLen := uint32(len(samples) * 4)
	h := make([]byte, 0, 44)
	h = append(h, "RIFF"...)
	h = binary.LittleEndian.AppendUint32(h, 36+dataLen)
	h = append(h, "WAVEfmt "...)
	h = binary.LittleEndian.AppendUint32(h, 16)
	h = binary.LittleEndian.AppendUint16(h, 3)
	h = binary.LittleEndian.AppendUint16(h, uint16(channels))
	h = binary.LittleEndian.AppendUint32(h, uint32(rate))
	h = binary.LittleEndian.AppendUint32(h, uint32(rate*channels*4))
	h = binary.LittleEndian.AppendUint16(h, uint16(channels*4))
	h = binary.LittleEndian.AppendUint16(h, 32)
	h = append(h, "data"...)
	h = binary.LittleEndian.AppendUint32(h, dataLen)
	body := make([]byte, len(samples)*4)
	for i, v := range samples {
		binary.LittleEndian.PutUint32(body[4*i:], math.Float32bits(v))
	}
	if _, err := w.Write(h); err != nil {
		return fmt.Errorf("demoalbum: write wav: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("demoalbum: write wav: %w", err)
	}
	return nil
}
