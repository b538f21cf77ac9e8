package catalogen

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
)

// ctxEvery is how many lines WriteJSONL writes between checks of its
// context.
const ctxEvery = 4096

// WriteJSONL writes c as a metadata import file (server/metadata's JSON
// Lines: artists, then albums, then tracks; a track's first artist is its
// main artist, the others are featured). Album covers are blob
// references derived from the album id; durations, numbers and ISRCs are
// the generated ones. It stops with ctx's error once ctx ends (checked
// every ctxEvery lines), the file then cut short.
func WriteJSONL(ctx context.Context, w io.Writer, c Catalog) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	lines := 0
	alive := func() error {
		lines++
		if lines%ctxEvery == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("catalogen: write: %w", err)
			}
		}
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("catalogen: write: %w", err)
	}
	for _, a := range c.Artists {
		if err := alive(); err != nil {
			return err
		}
		if err := enc.Encode(map[string]any{"type": "artist", "id": a.ID, "name": a.Name, "popularity": a.Popularity}); err != nil {
			return fmt.Errorf("catalogen: write artist: %w", err)
		}
	}
	for _, al := range c.Albums {
		if err := alive(); err != nil {
			return err
		}
		cover := sha256.Sum256([]byte(al.ID))
		err := enc.Encode(map[string]any{"type": "album", "id": al.ID, "title": al.Title, "artist_ids": []string{al.ArtistID},
			"release_date": al.ReleaseDate, "label": al.Label, "genres": al.Genres, "cover_art": "blob:" + hex.EncodeToString(cover[:])})
		if err != nil {
			return fmt.Errorf("catalogen: write album: %w", err)
		}
	}
	for _, t := range c.Tracks {
		if err := alive(); err != nil {
			return err
		}
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
