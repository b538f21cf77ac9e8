package docs_test

import (
	"fmt"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

func ExamplePlaylist() {
	p, err := docs.CreatePlaylist(automerge.New(), "alice", "Road trip", docs.DefaultOptions())
	if err != nil {
		panic(err)
	}
	ids, _ := p.Add(docs.AtEnd(), "alice", "trk-a", "trk-b", "trk-c")
	_ = p.Move(ids[2], docs.AtStart())
	_ = p.Remove(ids[0])
	es, _ := p.Entries()
	for _, e := range es {
		fmt.Println(e.Track)
	}
	// Output:
	// trk-c
	// trk-b
}

func ExampleParseURL() {
	var id docs.DocumentID // the zero id, for a stable output
	got, err := docs.ParseURL(id.URL())
	fmt.Println(got == id, err)
	// Output: true <nil>
}

func ExampleLibrary() {
	l, _ := docs.CreateLibrary(automerge.New(), "alice", docs.DefaultOptions())
	_ = l.SaveTracks("trk-a")
	_ = l.SetTier("high")
	ts, _ := l.Tracks()
	tier, _ := l.Tier("normal")
	fmt.Println(len(ts), ts[0].ID, tier)
	// Output: 1 trk-a high
}
