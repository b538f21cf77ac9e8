package metadata_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/store"
)

// Import a small file into a store: every line is validated first, then
// the records are written all or nothing.
func ExampleImporter_Import() {
	file := `{"type":"artist","id":"ar1","name":"Guns N' Roses"}
{"type":"album","id":"al1","title":"Appetite for Destruction","artist_ids":["ar1"],"release_date":"1987-07-21"}
{"type":"track","id":"tr1","title":"Paradise City","artist_ids":["ar1"],"album_id":"al1","duration_ms":406000,"disc_number":1,"track_number":6,"isrc":"USGF18714809"}
`
	im := metadata.New(store.NewMemory(), nil, metadata.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	open := func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(file)), nil }
	rep, err := im.Import(context.Background(), open)
	fmt.Println(rep.Artists, rep.Albums, rep.Tracks, err)
	id, _ := im.TrackByISRC(context.Background(), "USGF18714809")
	fmt.Println(id)

	bad := `{"type":"track","id":"tr2","title":"x","artist_ids":["nobody"],"album_id":"al1","duration_ms":1,"disc_number":1,"track_number":1}`
	rep, err = im.Import(context.Background(), func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(bad)), nil })
	fmt.Println(err)
	fmt.Println(rep.Errors[0].Line, rep.Errors[0].Err)
	// Output:
	// 1 1 1 <nil>
	// tr1
	// metadata: import refused: 1 invalid lines
	// 1 metadata: invalid record: artist "nobody" is neither in the file nor imported
}
