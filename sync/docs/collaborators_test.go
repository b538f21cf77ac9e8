package docs

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// TestSetCollaboratorsNames: a collaborator added must have an account
// name's syntax, else ErrInvalidArgument and nothing changes. Any text
// used to be stored ("Bob Smith", "../x"), which no account can ever
// have: the playlist synced with it and the app believed it shared.
// A name the document holds already (written by another client) is kept.
func TestSetCollaboratorsNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		users []model.UserID
		ok    bool
	}{
		{"account names", []model.UserID{"bob", "carol.d-2_x", "0"}, true},
		{"none", nil, true},
		{"longest", []model.UserID{model.UserID(strings.Repeat("a", model.MaxUserIDLen))}, true},
		{"too long", []model.UserID{model.UserID(strings.Repeat("a", model.MaxUserIDLen+1))}, false},
		{"empty", []model.UserID{""}, false},
		{"space", []model.UserID{"bob", "Bob Smith"}, false},
		{"upper case", []model.UserID{"Bob"}, false},
		{"path", []model.UserID{"../x"}, false},
		{"leading dot", []model.UserID{".bob"}, false},
		{"control", []model.UserID{"bob\n"}, false},
		{"non-ASCII", []model.UserID{"bøb"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPlaylist(t, 1)
			err := p.SetCollaborators(tc.users...)
			if tc.ok && err != nil {
				t.Fatalf("SetCollaborators(%q): %v", tc.users, err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("SetCollaborators(%q): %v, want ErrInvalidArgument", tc.users, err)
			}
			_, got, _, err := p.Access()
			if err != nil {
				t.Fatal(err)
			}
			want := []model.UserID{}
			if tc.ok {
				want = slices.Sorted(slices.Values(tc.users))
			}
			if len(got) != len(want) || (len(want) > 0 && !slices.Equal(got, want)) {
				t.Errorf("collaborators after SetCollaborators(%q): %q, want %q", tc.users, got, want)
			}
		})
	}

	// A name already held is kept when the set is written again.
	p := newPlaylist(t, 2)
	if err := p.doc.Path("collaborators").Map().Set("Bob Smith", true); err != nil {
		t.Fatal(err)
	}
	if err := p.SetCollaborators("Bob Smith", "carol"); err != nil {
		t.Errorf("keeping a name the document held: %v", err)
	}
}
