package api

import "github.com/segue-fm/segue/core/model"

// SharePreview is the answer of GET /s/{token}/preview (public, no
// auth): what a share link plays. ID is the album or track id (empty
// for a playlist: a document id is not shown to anonymous visitors);
// Subtitle names artists, or a playlist owner's display name only when
// one is set (never a user name). Tracks are the items in play order
// (at most 100); PreviewMS is how much of each an anonymous visitor
// hears.
type SharePreview struct {
	Kind      string         `json:"kind"`
	ID        string         `json:"id,omitempty"`
	Title     string         `json:"title"`
	Subtitle  string         `json:"subtitle,omitempty"`
	PreviewMS int64          `json:"preview_ms"`
	Tracks    []PreviewTrack `json:"tracks"`
}

// PreviewTrack is one track of a SharePreview.
type PreviewTrack struct {
	ID      model.TrackID `json:"id"`
	Title   string        `json:"title"`
	Artists string        `json:"artists,omitempty"`
}

// PreviewAudio is the answer of GET /s/{token}/preview/{n} (CBOR): the
// preview rendition of track n — its first PreviewMS, cut at a packet
// and end-trimmed by the granule of the last page, so Header ‖ Audio
// decodes to exactly Manifest.TotalSamples frames. Header and Audio are
// plaintext Ogg Vorbis; the Manifest has one chunk (Audio), no timing,
// and blob hashes of the plaintext.
type PreviewAudio struct {
	Manifest model.Manifest `cbor:"1,keyasint"`
	Header   []byte         `cbor:"2,keyasint"`
	Audio    []byte         `cbor:"3,keyasint"`
}
