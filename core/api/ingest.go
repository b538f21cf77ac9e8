package api

import "github.com/segue-fm/segue/core/model"

// Admin ingest (POST AdminIngestPath, admin bearer token): a
// multipart/form-data body with one AdminIngestAlbumPart holding an
// album.json sidecar and one AdminIngestFilePart per file it names, whose
// filename parameter is the file's slash-separated path relative to
// album.json. The answer is an IngestResponse.
const (
	AdminIngestPath      = "/v1/admin/ingest"
	AdminIngestAlbumPart = "album"
	AdminIngestFilePart  = "file"
)

// IngestResponse reports an admin ingest: the albums it published (or
// found already present) and every track, in album.json order.
type IngestResponse struct {
	Albums []IngestedAlbum `json:"albums"`
	Tracks []IngestedTrack `json:"tracks"`
}

// IngestedAlbum is one album of an ingest.
type IngestedAlbum struct {
	ID    model.AlbumID `json:"id"`
	Title string        `json:"title"`
}

// IngestedTrack is one track of an ingest. Skipped is true when its
// master was already in the catalog and nothing was written.
type IngestedTrack struct {
	ID      model.TrackID `json:"id"`
	Album   model.AlbumID `json:"album_id"`
	Title   string        `json:"title"`
	File    string        `json:"file"`
	Skipped bool          `json:"skipped"`
}
