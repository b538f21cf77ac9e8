package docs

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/core/model"
)

func newDoc() *automerge.Doc { return automerge.New() }

func testOpts(seed byte) Options {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	n := 0
	return DefaultOptions().
		WithRand(rand.NewChaCha8([32]byte{seed})).
		WithClock(func() time.Time { n++; return t0.Add(time.Duration(n) * time.Second) })
}

func tracks(es []Entry) []model.TrackID {
	out := make([]model.TrackID, len(es))
	for i, e := range es {
		out[i] = e.Track
	}
	return out
}

func mustEntries(t *testing.T, p *Playlist) []Entry {
	t.Helper()
	es, err := p.Entries()
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func newPlaylist(t *testing.T, seed byte) *Playlist {
	t.Helper()
	p, err := CreatePlaylist(automerge.New(), "alice", "Road trip", testOpts(seed))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fork returns an independent replica of p with its own actor and rand.
func fork(t *testing.T, p *Playlist, seed byte) *Playlist {
	t.Helper()
	d, err := p.Doc().Fork()
	if err != nil {
		t.Fatal(err)
	}
	q, err := OpenPlaylist(d, testOpts(seed))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func merge(t *testing.T, ps ...*Playlist) {
	t.Helper()
	for _, a := range ps {
		for _, b := range ps {
			if a != b {
				if _, err := a.Doc().Merge(b.Doc()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

func TestPlaylistOps(t *testing.T) {
	p := newPlaylist(t, 1)
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		op   func() error
		want []model.TrackID
	}{
		{"add at start", func() error { _, err := p.Add(AtStart(), "alice", "t0"); return err }, []model.TrackID{"t0", "t1", "t2", "t3"}},
		{"add at index", func() error { _, err := p.Add(AtIndex(2), "bob", "x", "y"); return err }, []model.TrackID{"t0", "t1", "x", "y", "t2", "t3"}},
		{"add after", func() error { _, err := p.Add(After(ids[2]), "bob", "z"); return err }, []model.TrackID{"t0", "t1", "x", "y", "t2", "t3", "z"}},
		{"move to start", func() error { return p.Move(ids[2], AtStart()) }, []model.TrackID{"t3", "t0", "t1", "x", "y", "t2", "z"}},
		{"move before", func() error { return p.Move(ids[0], Before(ids[1])) }, []model.TrackID{"t3", "t0", "x", "y", "t1", "t2", "z"}},
		{"move to index", func() error { return p.Move(ids[2], AtIndex(6)) }, []model.TrackID{"t0", "x", "y", "t1", "t2", "z", "t3"}},
		{"remove", func() error { return p.Remove(ids[1]) }, []model.TrackID{"t0", "x", "y", "t1", "z", "t3"}},
	}
	for _, s := range steps {
		n0, _ := p.Doc().Changes()
		if err := s.op(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		n1, _ := p.Doc().Changes()
		if len(n1) != len(n0)+1 {
			t.Fatalf("%s: made %d commits, want 1", s.name, len(n1)-len(n0))
		}
		if got := tracks(mustEntries(t, p)); !slices.Equal(got, s.want) {
			t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
		}
	}
	errs := []struct {
		name string
		err  error
		want error
	}{
		{"remove missing", p.Remove("nope"), ErrNoEntry},
		{"move missing", p.Move("nope", AtEnd()), ErrNoEntry},
		{"bad index", p.Move(ids[0], AtIndex(99)), ErrBadPosition},
		{"relative to self", p.Move(ids[0], After(ids[0])), ErrBadPosition},
		{"before missing", func() error { _, err := p.Add(Before("nope"), "a", "t"); return err }(), ErrNoEntry},
		{"empty track", func() error { _, err := p.Add(AtEnd(), "a", ""); return err }(), ErrInvalidArgument},
	}
	for _, e := range errs {
		if !errors.Is(e.err, e.want) {
			t.Errorf("%s: got %v, want %v", e.name, e.err, e.want)
		}
	}
	es := mustEntries(t, p)
	if es[0].AddedBy != "alice" || es[1].AddedBy != "bob" || es[0].AddedAt.IsZero() {
		t.Fatalf("entry attribution wrong: %+v", es[:2])
	}
}

func TestPlaylistMetadata(t *testing.T) {
	p := newPlaylist(t, 2)
	if err := p.Rename("Night drive"); err != nil {
		t.Fatal(err)
	}
	if err := p.Describe("slow songs"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetCollaborators("carol", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetCollaborators("bob", "dave"); err != nil {
		t.Fatal(err)
	}
	heads := p.Doc().Heads()
	if err := p.SetCollaborators("dave", "bob"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heads, p.Doc().Heads()) {
		t.Fatal("unchanged collaborators made a commit")
	}
	if err := p.SetPublic(true); err != nil {
		t.Fatal(err)
	}
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Name: "Night drive", Description: "slow songs", Owner: "alice", Collaborators: []model.UserID{"bob", "dave"}, Public: true}
	if info.Name != want.Name || info.Description != want.Description || info.Owner != want.Owner ||
		!slices.Equal(info.Collaborators, want.Collaborators) || info.Public != want.Public {
		t.Fatalf("info = %+v, want %+v", info, want)
	}
	for _, c := range []struct {
		user        model.UserID
		read, write bool
	}{{"alice", true, true}, {"bob", true, true}, {"carol", true, false}, {"", true, false}} {
		r, _ := p.CanRead(c.user)
		w, _ := p.CanWrite(c.user)
		if r != c.read || w != c.write {
			t.Errorf("%q: read %v write %v, want %v %v", c.user, r, w, c.read, c.write)
		}
	}
	if err := p.SetPublic(false); err != nil {
		t.Fatal(err)
	}
	if r, _ := p.CanRead("carol"); r {
		t.Fatal("carol can read a private playlist")
	}
	if _, err := OpenLibrary(p.Doc(), DefaultOptions()); !errors.Is(err, ErrWrongType) {
		t.Fatalf("OpenLibrary on playlist: %v", err)
	}
	if _, err := OpenPlaylist(automerge.New(), DefaultOptions()); !errors.Is(err, ErrWrongType) {
		t.Fatalf("OpenPlaylist on empty doc: %v", err)
	}
	if _, err := CreatePlaylist(p.Doc(), "x", "y", DefaultOptions()); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("CreatePlaylist on non-empty doc: %v", err)
	}
}

// TestDeleteWinsOverConcurrentMove: one replica removes an entry while
// another moves it; after merging in either order the entry is gone.
func TestDeleteWinsOverConcurrentMove(t *testing.T) {
	for _, order := range []string{"ab", "ba"} {
		p := newPlaylist(t, 3)
		ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3")
		if err != nil {
			t.Fatal(err)
		}
		a, b := fork(t, p, 4), fork(t, p, 5)
		if err := a.Remove(ids[1]); err != nil {
			t.Fatal(err)
		}
		if err := b.Move(ids[1], AtStart()); err != nil {
			t.Fatal(err)
		}
		if err := b.Move(ids[1], AtEnd()); err != nil {
			t.Fatal(err)
		}
		if order == "ab" {
			merge(t, a, b)
		} else {
			merge(t, b, a)
		}
		for _, r := range []*Playlist{a, b} {
			if got := tracks(mustEntries(t, r)); !slices.Equal(got, []model.TrackID{"t1", "t3"}) {
				t.Fatalf("order %s: entries %v, want [t1 t3]", order, got)
			}
		}
		// A later move on the merged replica reports the entry as gone.
		if err := b.Move(ids[1], AtStart()); !errors.Is(err, ErrNoEntry) {
			t.Fatalf("move of deleted entry: %v", err)
		}
	}
}

// TestConcurrentMovesDoNotDuplicate: three replicas move the same entry to
// different places; after merging there is exactly one copy, in the same
// place on every replica.
func TestConcurrentMovesDoNotDuplicate(t *testing.T) {
	p := newPlaylist(t, 6)
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3", "t4")
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := fork(t, p, 7), fork(t, p, 8), fork(t, p, 9)
	if err := a.Move(ids[0], AtEnd()); err != nil {
		t.Fatal(err)
	}
	if err := b.Move(ids[0], After(ids[1])); err != nil {
		t.Fatal(err)
	}
	if err := c.Move(ids[0], Before(ids[3])); err != nil {
		t.Fatal(err)
	}
	merge(t, a, b, c)
	ea, eb, ec := mustEntries(t, a), mustEntries(t, b), mustEntries(t, c)
	if len(ea) != 4 || !slices.Equal(ea, eb) || !slices.Equal(eb, ec) {
		t.Fatalf("replicas differ or duplicated:\n%v\n%v\n%v", ea, eb, ec)
	}
}

// TestConcurrentInsertsSameSpot: two replicas insert at the same index;
// both entries survive, and every replica orders them identically.
func TestConcurrentInsertsSameSpot(t *testing.T) {
	p := newPlaylist(t, 10)
	if _, err := p.Add(AtEnd(), "alice", "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	a, b := fork(t, p, 11), fork(t, p, 12)
	if _, err := a.Add(AtIndex(1), "alice", "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Add(AtIndex(1), "bob", "b"); err != nil {
		t.Fatal(err)
	}
	merge(t, a, b)
	ea, eb := mustEntries(t, a), mustEntries(t, b)
	if !slices.Equal(ea, eb) || len(ea) != 4 || ea[0].Track != "t1" || ea[3].Track != "t2" {
		t.Fatalf("merged entries %v / %v", tracks(ea), tracks(eb))
	}
	if ea[1].Pos == ea[2].Pos {
		t.Fatalf("concurrent inserts got the same pos %q", ea[1].Pos)
	}
}

func TestLibrary(t *testing.T) {
	l, err := CreateLibrary(automerge.New(), "alice", testOpts(20))
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := NewDocumentID(rand.NewChaCha8([32]byte{1}))
	ops := []func() error{
		func() error { return l.SaveTracks("t1", "t2") },
		func() error { return l.SaveTracks("t3") },
		func() error { return l.UnsaveTracks("t1") },
		func() error { return l.SaveAlbums("al1") },
		func() error { return l.FollowArtists("ar1", "ar2") },
		func() error { return l.UnfollowArtists("ar2") },
		func() error { return l.FollowPlaylists(pl) },
		func() error { return l.SetTier(model.TierHigh) },
	}
	for i, op := range ops {
		if err := op(); err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
	}
	heads := l.Doc().Heads()
	if err := l.SaveTracks("t2"); err != nil {
		t.Fatal(err)
	}
	if err := l.SetTier(model.TierHigh); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(heads, l.Doc().Heads()) {
		t.Fatal("no-op save made a commit")
	}
	ts, _ := l.Tracks()
	if len(ts) != 2 || ts[0].ID != "t3" || ts[1].ID != "t2" {
		t.Fatalf("tracks %v, want t3 (newest) then t2", ts)
	}
	as, _ := l.Albums()
	ar, _ := l.Artists()
	ps, _ := l.Playlists()
	tier, _ := l.Tier(model.TierNormal)
	if len(as) != 1 || len(ar) != 1 || ar[0].ID != "ar1" || len(ps) != 1 || ps[0] != pl || tier != model.TierHigh {
		t.Fatalf("albums %v artists %v playlists %v tier %v", as, ar, ps, tier)
	}
	if err := l.SetTier("bogus"); !errors.Is(err, model.ErrInvalidTier) {
		t.Fatalf("SetTier(bogus): %v", err)
	}
	if l.Owner() != "alice" {
		t.Fatalf("owner %q", l.Owner())
	}
}

// TestLibraryGenesisConverges: two devices create alice's library offline;
// their genesis changes are identical, so their later saves merge.
func TestLibraryGenesisConverges(t *testing.T) {
	d1, d2 := automerge.New(), automerge.New()
	l1, err := CreateLibrary(d1, "alice", testOpts(21))
	if err != nil {
		t.Fatal(err)
	}
	l2, err := CreateLibrary(d2, "alice", testOpts(22))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d1.Heads(), d2.Heads()) {
		t.Fatal("genesis heads differ")
	}
	if d1.ActorID() == d2.ActorID() {
		t.Fatal("devices share an actor id after genesis")
	}
	if err := l1.SaveTracks("t1"); err != nil {
		t.Fatal(err)
	}
	if err := l2.SaveTracks("t2"); err != nil {
		t.Fatal(err)
	}
	if _, err := d1.Merge(d2); err != nil {
		t.Fatal(err)
	}
	ts, _ := l1.Tracks()
	if len(ts) != 2 {
		t.Fatalf("merged tracks %v, want t1 and t2", ts)
	}
	if LibraryID("alice") != LibraryID("alice") || LibraryID("alice") == LibraryID("bob") {
		t.Fatal("LibraryID not a function of the user")
	}
}

// TestPlaylistTextLimits: names and descriptions are valid UTF-8,
// printable (no control or bidirectional formatting character: a name
// holding ESC or U+202E rewrote the terminal and the lines after it
// where `segue playlist list` printed it) and bounded; a refused one
// changes nothing.
func TestPlaylistTextLimits(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n/2) + strings.Repeat("a", n%2) }
	for _, c := range []struct {
		name, text string
		max        int
		ok         bool
	}{
		{"plain", "Road trip", MaxNameBytes, true},
		{"empty", "", MaxNameBytes, true},
		{"at limit", long(MaxNameBytes), MaxNameBytes, true},
		{"past limit", long(MaxNameBytes + 1), MaxNameBytes, false},
		{"description at limit", long(MaxDescriptionBytes), MaxDescriptionBytes, true},
		{"description past limit", long(MaxDescriptionBytes + 1), MaxDescriptionBytes, false},
		{"escape", "evil\x1b[31mred", MaxNameBytes, false},
		{"newline", "two\nlines", MaxNameBytes, false},
		{"override", "abc\u202edef", MaxNameBytes, false},
		{"not UTF-8", "a\xffb", MaxNameBytes, false},
		{"direction mark", "שלום\u200f mix", MaxNameBytes, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.max == MaxNameBytes {
				doc := newDoc()
				_, err := CreatePlaylist(doc, "alice", c.text, testOpts(1))
				if (err == nil) != c.ok || !c.ok && !errors.Is(err, ErrBadText) {
					t.Fatalf("CreatePlaylist: %v, want ok=%v", err, c.ok)
				}
				if !c.ok && len(doc.Heads()) != 0 {
					t.Fatal("a refused creation committed")
				}
			}
			doc := newDoc()
			p, err := CreatePlaylist(doc, "alice", "before", testOpts(1))
			if err != nil {
				t.Fatal(err)
			}
			heads := doc.Heads()
			set := p.Rename
			if c.max == MaxDescriptionBytes {
				set = p.Describe
			}
			if err := set(c.text); (err == nil) != c.ok || !c.ok && !errors.Is(err, ErrBadText) {
				t.Fatalf("set: %v, want ok=%v", err, c.ok)
			}
			if !c.ok && !slices.Equal(doc.Heads(), heads) {
				t.Fatal("a refused text committed")
			}
		})
	}
}

// TestIndexOutOfRange: an index past the end names the valid range of the
// edit, in the playlist's own indexes: moving one of 4 entries to index 4
// said "index 4 of 3" (the others, without it).
func TestIndexOutOfRange(t *testing.T) {
	p, err := CreatePlaylist(newDoc(), "alice", "x", testOpts(1))
	if err != nil {
		t.Fatal(err)
	}
	ids, err := p.Add(AtEnd(), "alice", "t1", "t2", "t3", "t4")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"move past the end", p.Move(ids[0], AtIndex(4)), "index 4 outside 0–3"},
		{"move negative", p.Move(ids[0], AtIndex(-1)), "index -1 outside 0–3"},
		{"add past the end", func() error { _, err := p.Add(AtIndex(5), "alice", "t5"); return err }(), "index 5 outside 0–4"},
		{"move to the last index", p.Move(ids[0], AtIndex(3)), ""},
	} {
		if c.want == "" {
			if c.err != nil {
				t.Errorf("%s: %v", c.name, c.err)
			}
			continue
		}
		if !errors.Is(c.err, ErrBadPosition) || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrBadPosition with %q", c.name, c.err, c.want)
		}
	}
}
