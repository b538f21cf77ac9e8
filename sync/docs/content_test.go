package docs

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

// lastChangeOps commits doc's pending edits and returns the operations
// of the change made.
func lastChangeOps(t *testing.T, doc *automerge.Doc) *ChangeOps {
	t.Helper()
	if _, err := doc.Commit("edit"); err != nil {
		t.Fatal(err)
	}
	chs, err := doc.Changes()
	if err != nil || len(chs) == 0 {
		t.Fatalf("changes: %d, %v", len(chs), err)
	}
	ops, err := DecodeChangeOps(chs[len(chs)-1].Save())
	if err != nil {
		t.Fatal(err)
	}
	return ops
}

// TestCheckContentSegueEdits: every change Segue's own setters write
// passes, and so does a playlist written by Automerge JS with its
// strings as text.
func TestCheckContentSegueEdits(t *testing.T) {
	doc := automerge.New()
	p, err := CreatePlaylist(doc, "alice", "road trip", testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3")
	if err != nil {
		t.Fatal(err)
	}
	for _, edit := range []func() error{
		func() error { return p.Rename("Road trip ✈ 2026") },
		func() error { return p.Describe("for the drive south") },
		func() error { return p.Move(ids[0], AtEnd()) },
		func() error { return p.Remove(ids[1]) },
		func() error { return p.SetCollaborators("bob", "carol") },
		func() error { return p.SetPublic(true) },
	} {
		if err := edit(); err != nil {
			t.Fatal(err)
		}
	}
	lib := automerge.New()
	l, err := CreateLibrary(lib, "alice", testOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.SaveTracks("t1", "t2"); err != nil {
		t.Fatal(err)
	}
	js := automerge.New()
	root := js.RootMap()
	for k, v := range map[string]any{"type": automerge.NewText("playlist"), "name": automerge.NewText("road trip"),
		"owner": automerge.NewText("alice"), "entries": automerge.NewMap()} {
		if err := root.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := js.Path("entries").Map().Set("js1x0", automerge.NewMap()); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]any{"trackId": automerge.NewText("t1"), "pos": automerge.NewText("V"),
		"addedBy": automerge.NewText("bob"), "addedAt": time.UnixMilli(1700000000000)} {
		if err := js.Path("entries", "js1x0").Map().Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := js.Commit("js"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*automerge.Doc{doc, lib, js} {
		chs, err := d.Changes()
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chs {
			ops, err := DecodeChangeOps(ch.Save())
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckContent(ops); err != nil {
				t.Errorf("change %q: %v", ch.Message(), err)
			}
		}
	}
}

// TestCheckContentRefused: changes written by hand (a hostile or broken
// client) with values no Segue document may hold are refused, each with
// an error naming the rule.
func TestCheckContentRefused(t *testing.T) {
	set := func(path []any, k string, v any) func(*automerge.Doc) error {
		return func(d *automerge.Doc) error { return d.Path(path...).Map().Set(k, v) }
	}
	root := func(k string, v any) func(*automerge.Doc) error { return set(nil, k, v) }
	entry := func(k string, v any) func(*automerge.Doc) error { return set([]any{"entries", "e1"}, k, v) }
	long := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name string
		edit func(*automerge.Doc) error
		want string
	}{
		{"name of 1 MiB", root("name", long), "a value of 1048576 bytes"},
		{"name of 257 bytes", root("name", strings.Repeat("n", MaxNameBytes+1)), "at most 256"},
		{"name with a control character", root("name", "a\x07b"), "control"},
		{"name with a bidi override", root("name", "abc\u202egpj.exe"), "U+202E"},
		{"name as a number", root("name", int64(7)), "name is not a string"},
		{"name as a map", root("name", automerge.NewMap()), "name is not a string"},
		{"name as a long text", root("name", automerge.NewText(strings.Repeat("n", 300))), "at most 256"},
		{"description of 5000 bytes", root("description", strings.Repeat("d", 5000)), "at most 4096"},
		{"entries as a string", root("entries", "none"), "entries is not a map"},
		{"collaborators as a list", root("collaborators", automerge.NewList()), "collaborators is not a map"},
		{"unknown field of 1 MiB", root("junk", long), "a value of 1048576 bytes"},
		{"unknown field as long text", root("junk", automerge.NewText(strings.Repeat("j", 5000))), "more than 4096"},
		{"key of 200 bytes", set([]any{"entries"}, strings.Repeat("k", 200), automerge.NewMap()), "a key of 200 bytes"},
		{"key with a control character", set([]any{"entries"}, "e\x00", automerge.NewMap()), "control"},
		{"track id of 1 KiB", entry("trackId", strings.Repeat("t", 1024)), "is no id"},
		{"track id with a slash", entry("trackId", "../../etc"), "is no id"},
		{"empty track id", entry("trackId", ""), "is no id"},
		{"track id with a newline", entry("trackId", "t\n1"), "control"},
		{"track id as a number", entry("trackId", int64(-1)), "trackId is not a string"},
		{"track id as a map", entry("trackId", automerge.NewMap()), "trackId is not a string"},
		{"addedBy with a bidi isolate", entry("addedBy", "bob\u2066"), "U+2066"},
		{"pos with a space", entry("pos", "a 0"), "other than 0-9"},
		{"pos of 1100 bytes", entry("pos", strings.Repeat("V", 1100)), "a pos of 1100 bytes"},
		{"empty pos", entry("pos", ""), "a pos of 0 bytes"},
		{"addedAt as a string", entry("addedAt", "yesterday"), "addedAt is not a timestamp"},
		{"too many entries in one change", func(d *automerge.Doc) error {
			m := d.Path("entries").Map()
			for i := range MaxObjectsPerChange + 1 {
				if err := m.Set("e"+strconv.Itoa(i), automerge.NewMap()); err != nil {
					return err
				}
			}
			return nil
		}, "more than 5008 objects"},
		{"edit of an earlier text", func(d *automerge.Doc) error {
			return d.Path("title").Text().Insert(0, "x")
		}, "an earlier change made"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := automerge.New()
			p, err := CreatePlaylist(doc, "alice", "mine", testOpts(1))
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.RootMap().Set("title", automerge.NewText("t")); err != nil {
				t.Fatal(err)
			}
			if err := doc.Path("entries").Map().Set("e1", automerge.NewMap()); err != nil {
				t.Fatal(err)
			}
			for _, kv := range []struct {
				k string
				v any
			}{{"trackId", "t1"}, {"pos", "a0"}, {"addedBy", "alice"}, {"addedAt", time.UnixMilli(1)}} {
				if err := doc.Path("entries", "e1").Map().Set(kv.k, kv.v); err != nil {
					t.Fatal(err)
				}
			}
			if err := CheckContent(lastChangeOps(t, p.Doc())); err != nil {
				t.Fatalf("the set-up is refused: %v", err)
			}
			if err := tc.edit(doc); err != nil {
				t.Fatal(err)
			}
			err = CheckContent(lastChangeOps(t, doc))
			if !errors.Is(err, ErrBadContent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrBadContent saying %q", err, tc.want)
			}
		})
	}
}

// TestAddChecksContent: Add refuses, before writing anything, a track
// id or user the relay's CheckContent refuses, and Add and Move between
// neighbours whose pos are MaxPosBytes long commit a change it takes, so
// that a device never commits a change the relay refuses. Before, Add took any non-empty
// track id, and the change was stored and synced.
func TestAddChecksContent(t *testing.T) {
	doc := automerge.New()
	p, err := CreatePlaylist(doc, "alice", "mine", testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3")
	if err != nil {
		t.Fatal(err)
	}
	heads := doc.Heads()
	for _, tc := range []struct {
		track, by, want string
	}{
		{"../../etc/passwd", "alice", "is no id"},
		{strings.Repeat("t", 129), "alice", "is no id"},
		{"t\n1", "alice", "control"},
		{"t\u202e1", "alice", "U+202E"},
		{"t4", "al/ice", "addedBy"},
	} {
		_, err := p.Add(AtEnd(), model.UserID(tc.by), model.TrackID(tc.track))
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Add(%q by %q) = %v, want ErrInvalidArgument saying %q", tc.track, tc.by, err, tc.want)
		}
	}
	if !slices.Equal(doc.Heads(), heads) {
		t.Fatal("a refused Add committed")
	}
	// Two neighbours whose pos are MaxPosBytes long: nothing fits
	// between them.
	base := "a0" + strings.Repeat("0", MaxPosBytes-3)
	for i, id := range ids[:2] {
		if err := doc.Path("entries", string(id)).Map().Set("pos", base+strconv.Itoa(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := doc.Commit("long"); err != nil {
		t.Fatal(err)
	}
	// Add and Move there re-key the neighbours (TestRekey), in a change
	// the relay takes.
	for _, edit := range []func() error{
		func() error { _, err := p.Add(After(ids[0]), "alice", "t4"); return err },
		func() error { return p.Move(ids[2], After(ids[0])) },
	} {
		heads := doc.Heads()
		if err := edit(); err != nil {
			t.Fatalf("edit between long positions: %v", err)
		}
		cs, err := doc.Changes(heads...)
		if err != nil || len(cs) != 1 {
			t.Fatalf("%d changes, %v; want 1", len(cs), err)
		}
		ops, err := DecodeChangeOps(cs[0].Save())
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckContent(ops); err != nil {
			t.Fatalf("the relay refuses the edit: %v", err)
		}
	}
}

// TestSettersCheckKeys: the library's sets and settings and a
// playlist's collaborators refuse, committing nothing, a key the relay's
// CheckContent refuses; before, the device committed it, the relay
// refused the change, and every later change of the document, which
// depends on it, was refused too.
func TestSettersCheckKeys(t *testing.T) {
	doc := automerge.New()
	l, err := CreateLibrary(doc, "alice", testOpts(2))
	if err != nil {
		t.Fatal(err)
	}
	pdoc := automerge.New()
	p, err := CreatePlaylist(pdoc, "alice", "mine", testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("k", MaxKeyBytes+1)
	for _, tc := range []struct {
		name string
		doc  *automerge.Doc
		set  func() error
		want string
	}{
		{"saved track of 129 bytes", doc, func() error { return l.SaveTracks(model.TrackID(long)) }, "a key of 129 bytes"},
		{"followed artist with a bidi override", doc, func() error { return l.FollowArtists("ar\u202e1") }, "U+202E"},
		{"setting key with a newline", doc, func() error { return l.SetSetting("ti\ner", "high") }, "control"},
		{"setting value of 5000 bytes", doc, func() error { return l.SetSetting("note", strings.Repeat("v", 5000)) }, "at most 4096"},
		{"collaborator of 129 bytes", pdoc, func() error { return p.SetCollaborators(model.UserID(long)) }, "is no account name"},
	} {
		heads := tc.doc.Heads()
		err := tc.set()
		if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidArgument saying %q", tc.name, err, tc.want)
		}
		if !slices.Equal(tc.doc.Heads(), heads) {
			t.Errorf("%s: committed", tc.name)
		}
	}
}
