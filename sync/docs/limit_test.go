package docs_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestAddEntryLimit: Add refuses, committing nothing, entries that would
// take a playlist past MaxEntries (ErrPlaylistFull), counting entries a
// foreign client wrote malformed too (the relay counts every key);
// before, a playlist grew until the relay's 64 MiB document cap.
func TestAddEntryLimit(t *testing.T) {
	doc := automerge.New()
	p, err := docs.CreatePlaylist(doc, "alice", "big", docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]model.TrackID, docs.MaxEntries-2)
	for i := range ts {
		ts[i] = model.TrackID(fmt.Sprintf("t%07d", i))
	}
	ids, err := p.Add(docs.AtEnd(), "alice", ts...)
	if err != nil {
		t.Fatal(err)
	}
	// A malformed entry (no trackId), as a foreign client may write.
	if err := doc.Path("entries", "ffffffffffffffff").Set(automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	if _, err := doc.Commit("foreign"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tracks []model.TrackID
		remove int
		ok     bool
	}{
		{"two more", []model.TrackID{"x1", "x2"}, 0, false},
		{"the last one", []model.TrackID{"x1"}, 0, true},
		{"one past the limit", []model.TrackID{"x2"}, 0, false},
		{"one after a removal", []model.TrackID{"x3"}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.remove > 0 {
				if err := p.Remove(ids[:tc.remove]...); err != nil {
					t.Fatal(err)
				}
				ids = ids[tc.remove:]
			}
			heads := doc.Heads()
			_, err := p.Add(docs.AtIndex(10), "alice", tc.tracks...)
			switch {
			case tc.ok && err != nil:
				t.Fatalf("Add = %v, want nil", err)
			case !tc.ok && !errors.Is(err, docs.ErrPlaylistFull):
				t.Fatalf("Add = %v, want ErrPlaylistFull", err)
			case !tc.ok && !slices.Equal(doc.Heads(), heads):
				t.Fatal("a refused Add committed")
			}
			if n := doc.Path("entries").Map().Len(); n > docs.MaxEntries {
				t.Fatalf("%d entries, at most %d", n, docs.MaxEntries)
			}
		})
	}
}
