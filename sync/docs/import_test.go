package docs

import (
	"slices"
	"testing"

	"github.com/automerge/automerge-go"
)

// TestLibraryImport: importing a library adds the members the target
// lacks with their original times, keeps the target's own settings, adds
// the missing ones, in one commit, and is a no-op the second time.
func TestLibraryImport(t *testing.T) {
	from, err := CreateLibrary(automerge.New(), "alice", testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	to, err := CreateLibrary(automerge.New(), "alice", testOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []error{
		from.SaveTracks("t1", "shared"), from.SetSetting("tier", "high"), from.SetSetting("theme", "dark"),
		from.FollowArtists("ar1"),
		to.SaveTracks("t2", "shared"), to.SetSetting("tier", "low"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	fromTracks, err := from.Tracks()
	if err != nil {
		t.Fatal(err)
	}
	before := len(mustChanges(t, to.Doc()))
	if _, err := to.Import(from); err != nil {
		t.Fatal(err)
	}
	if n := len(mustChanges(t, to.Doc())); n != before+1 {
		t.Fatalf("import made %d commits, want 1", n-before)
	}
	tracks, err := to.Tracks()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range tracks {
		ids = append(ids, s.ID)
		if s.ID == "t1" {
			if i := slices.IndexFunc(fromTracks, func(f Saved) bool { return f.ID == "t1" }); !fromTracks[i].At.Equal(s.At) {
				t.Fatalf("t1 saved at %v, want the original %v", s.At, fromTracks[i].At)
			}
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"shared", "t1", "t2"}) {
		t.Fatalf("tracks %v", ids)
	}
	if v, _, _ := to.Setting("tier"); v != "low" {
		t.Fatalf("tier %q, want the target's own low", v)
	}
	if v, _, _ := to.Setting("theme"); v != "dark" {
		t.Fatalf("theme %q, want dark", v)
	}
	if as, _ := to.Artists(); len(as) != 1 || as[0].ID != "ar1" {
		t.Fatalf("artists %v", as)
	}
	heads := to.Doc().Heads()
	if _, err := to.Import(from); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(to.Doc().Heads(), heads) {
		t.Fatal("a second import committed")
	}
}

func mustChanges(t *testing.T, d *automerge.Doc) []*automerge.Change {
	t.Helper()
	cs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
