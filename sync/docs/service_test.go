package docs

import (
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// TestServicePlaylistReplace: a service playlist names its listener and
// kind; Replace swaps the whole content, name and period in one commit
// and keeps the order; an ordinary playlist cannot be replaced, and a
// service playlist cannot be created without a listener.
func TestServicePlaylistReplace(t *testing.T) {
	doc := automerge.New()
	p, err := CreateServicePlaylist(doc, "alice", "discover_weekly", "Discover Weekly", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	si, ok := ServiceOf(doc)
	if !ok || si != (ServiceInfo{Kind: "discover_weekly", Listener: "alice"}) {
		t.Fatalf("ServiceOf = %+v, %v", si, ok)
	}
	if owner, collabs, public, err := p.Access(); err != nil || owner != ServiceUser || len(collabs) != 0 || public {
		t.Fatalf("access: %s %v %v %v", owner, collabs, public, err)
	}
	for _, week := range []struct {
		period string
		tracks []model.TrackID
	}{{"2026-W49", []model.TrackID{"a", "b", "c"}}, {"2026-W50", []model.TrackID{"d", "a"}}, {"2026-W51", nil}} {
		before := len(doc.Heads())
		changes, _ := doc.Changes()
		if err := p.Replace("Discover Weekly", "for "+week.period, week.period, week.tracks); err != nil {
			t.Fatal(err)
		}
		after, _ := doc.Changes()
		if len(after) != len(changes)+1 || before != 1 {
			t.Fatalf("%s: %d changes, want one more than %d", week.period, len(after), len(changes))
		}
		es, err := p.Entries()
		if err != nil {
			t.Fatal(err)
		}
		var got []model.TrackID
		for _, e := range es {
			got = append(got, e.Track)
			if e.AddedBy != ServiceUser {
				t.Errorf("entry added by %s", e.AddedBy)
			}
		}
		if !slices.Equal(got, week.tracks) {
			t.Fatalf("%s: entries %v, want %v", week.period, got, week.tracks)
		}
		if si, _ := ServiceOf(doc); si.Period != week.period {
			t.Fatalf("period %q, want %q", si.Period, week.period)
		}
	}
	plain := automerge.New()
	q, err := CreatePlaylist(plain, "alice", "mine", DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Replace("x", "", "p", []model.TrackID{"a"}); !errors.Is(err, ErrWrongType) {
		t.Fatalf("replace of an ordinary playlist: %v, want ErrWrongType", err)
	}
	if _, ok := ServiceOf(plain); ok {
		t.Fatal("an ordinary playlist reads as a service playlist")
	}
	if _, err := CreateServicePlaylist(automerge.New(), "", "k", "n", DefaultOptions()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("no listener: %v", err)
	}
	if err := p.Replace("x", "", "p", []model.TrackID{""}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty track id: %v", err)
	}
}
