package api

// ServicePlaylist is one playlist the relay writes for a listener
// (Discover Weekly, a Daily Mix, Release Radar): a read-only playlist
// document the listener's library follows.
type ServicePlaylist struct {
	// Kind is "discover_weekly", "daily_mix_1" … "daily_mix_6" or
	// "release_radar".
	Kind string `json:"kind"`
	// Doc is the document id (bs58check); it stays the same from one
	// period to the next, only the content is replaced.
	Doc string `json:"doc"`
	// Period is the period of the current content ("2026-W49" for
	// Discover Weekly, a date for the others); "" before the first
	// delivery.
	Period string `json:"period,omitempty"`
	// Followed reports whether the listener's library follows it. The
	// relay makes the library follow a playlist once, at its first
	// delivery; after the listener unfollows it, it stays unfollowed
	// (its content is still refreshed) until they follow Doc again
	// (core Playlists.Follow).
	Followed bool `json:"followed"`
}

// Recommendations is the body of GET /v1/recommendations: the calling
// user's service playlists and the time zone their schedule runs in.
type Recommendations struct {
	TimeZone  string            `json:"time_zone"`
	Playlists []ServicePlaylist `json:"playlists"`
}

// TimeZoneRequest is the body of PUT /v1/recommendations/timezone: an
// IANA time zone name ("Europe/Berlin"; "UTC").
type TimeZoneRequest struct {
	TimeZone string `json:"time_zone"`
}

// SimilarTracks is the body of GET /v1/tracks/{id}/similar.
type SimilarTracks struct {
	Track   string   `json:"track"`
	Similar []string `json:"similar"`
}

// RecsRunRequest is the body of POST /v1/admin/recs/run: deliver
// Discover Weekly for an ISO week ("2026-W49") to every listener.
type RecsRunRequest struct {
	Week string `json:"week"`
}

// RecsRunResponse counts the listeners of a run: delivered, skipped
// (already delivered for that week or a later one) and failed.
type RecsRunResponse struct {
	Week      string `json:"week"`
	Delivered int    `json:"delivered"`
	Skipped   int    `json:"skipped"`
	Failed    int    `json:"failed"`
}
