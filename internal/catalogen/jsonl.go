package catalogen

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSONL writes c as a metadata import file (server/metadata's JSON
// Lines: artists, then albums, then tracks; a track's first artist is its
// main artist, the others are featured). Album covers are blob
// references derived from the album id; durations, numbers and ISRCs are
// the generated ones.
func WriteJSONL(w io.Writer, c Catalog) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for _, a := range c.Artists {
		if err := enc.Encode(map[string]any{"type": "artist", "id": a.ID, "name": a.Name, "popularity": a.Popularity}); err != nil {
			return fmt.Errorf("catalogen: write artist: %w", err)
		}
	}
	for _, al := range c.Albums {
		cover := sha256.Sum256([]byte(al.ID))
		err := enc.Encode(map[string]any{"type": "album", "id": al.ID, "title": al.Title, "artist_ids": []string{al.ArtistID},
			"release_date": al.ReleaseDate, "label": al.Label, "genres": al.Genres, "cover_art": "blob:" + hex.EncodeToString(cover[:])})
		if err != nil {
			return fmt.Errorf("catalogen: write album: %w", err)
		}
	}
	for _, t := range c.Tracks {
		line := map[string]any{"type": "track", "id": t.ID, "title": t.Title, "artist_ids": t.ArtistIDs[:1], "album_id": t.AlbumID,
			"duration_ms": t.DurationMS, "disc_number": t.DiscNumber, "track_number": t.TrackNumber, "isrc": t.ISRC,
			"explicit": t.Explicit, "popularity": t.Popularity}
		if len(t.ArtistIDs) > 1 {
			line["featured_artist_ids"] = t.ArtistIDs[1:]
		}
		if err := enc.Encode(line); err != nil {
			return fmt.Errorf("catalogen: write track: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("catalogen: write: %w", err)
	}
	return nil
}
