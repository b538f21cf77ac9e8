package api

// Limits of GET /v1/search.
const (
	// SearchDefaultLimit is the page size without a limit parameter.
	SearchDefaultLimit = 20
	// SearchMaxLimit is the largest page size.
	SearchMaxLimit = 50
	// SearchMaxOffset is the largest offset: deeper pages are refused.
	SearchMaxOffset = 1000
)

// SearchResult is one result of GET /v1/search (and of the device's
// offline search). Kind is track, album, artist or playlist. Highlights
// are UTF-8 byte ranges into the named field (for artists, into
// Artists[Index]).
type SearchResult struct {
	Kind    string   `json:"kind"`
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Artists []string `json:"artists,omitempty"`
	Album   string   `json:"album,omitempty"`
	// Audio is the catalog track to play for a track result ("" while
	// an imported track has no audio yet).
	Audio      string            `json:"audio_id,omitempty"`
	Highlights []SearchHighlight `json:"highlights"`
}

// SearchHighlight is a matched range of a result's field.
type SearchHighlight struct {
	Field string `json:"field"` // title, artists or album
	Index int    `json:"index,omitempty"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// SearchResponse is the body of GET /v1/search.
type SearchResponse struct {
	Query   string         `json:"query"`
	Total   int            `json:"total"`
	Offset  int            `json:"offset"`
	Limit   int            `json:"limit"`
	Results []SearchResult `json:"results"`
}
