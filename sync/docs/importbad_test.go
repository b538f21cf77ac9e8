package docs

import (
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
)

// TestLibraryImportSkipsBadMembers: Import copied every key and setting
// of the library it imports from unchecked, so a member or setting
// CheckContent refuses (a key over MaxKeyBytes or with a control or
// bidirectional formatting character, a setting over MaxStringBytes) went into the assigned library's import change, which
// the relay then refused whole; and a set that is not a map failed the
// import, which failed every later library call. Import must skip such
// members and sets, counting them, and import the rest in changes
// CheckContent accepts.
func TestLibraryImportSkipsBadMembers(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name string
		bad  func(doc *automerge.Doc) error
	}{
		{"bidi track", func(d *automerge.Doc) error { return d.Path(setTracks).Map().Set("\u202etrack", at) }},
		{"long album", func(d *automerge.Doc) error {
			return d.Path(setAlbums).Map().Set(strings.Repeat("a", MaxKeyBytes+1), at)
		}},
		{"control setting key", func(d *automerge.Doc) error { return d.Path(mapSettings).Map().Set("the\x01me", "dark") }},
		{"long setting", func(d *automerge.Doc) error {
			return d.Path(mapSettings).Map().Set("theme", strings.Repeat("x", MaxStringBytes+1))
		}},
		{"playlists not a map", func(d *automerge.Doc) error { return d.RootMap().Set(setPlaylists, "none") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			from, err := CreateLibrary(automerge.New(), "alice", testOpts(1))
			if err != nil {
				t.Fatal(err)
			}
			to, err := CreateLibrary(automerge.New(), "alice", testOpts(2))
			if err != nil {
				t.Fatal(err)
			}
			if err := from.SaveTracks("good"); err != nil {
				t.Fatal(err)
			}
			if err := c.bad(from.Doc()); err != nil {
				t.Fatal(err)
			}
			if _, err := from.Doc().Commit("bad"); err != nil {
				t.Fatal(err)
			}
			before := len(mustChanges(t, to.Doc()))
			skipped, err := to.Import(from)
			if err != nil {
				t.Fatalf("Import: %v", err)
			}
			if skipped != 1 {
				t.Errorf("skipped %d, want 1", skipped)
			}
			chs := mustChanges(t, to.Doc())
			for _, ch := range chs[before:] {
				ops, err := DecodeChangeOps(ch.Save())
				if err != nil {
					t.Fatal(err)
				}
				if err := CheckContent(ops); err != nil {
					t.Errorf("the import made a change the relay refuses: %v", err)
				}
			}
			tracks, err := to.Tracks()
			if err != nil || len(tracks) != 1 || tracks[0].ID != "good" {
				t.Errorf("tracks %v, %v: want the good one", tracks, err)
			}
			if v, ok, _ := to.Setting("theme"); ok {
				t.Errorf("setting theme imported: %d bytes", len(v))
			}
		})
	}
}
