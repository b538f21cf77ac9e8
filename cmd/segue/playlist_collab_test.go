package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// TestPlaylistCollabUnknownUser: naming a collaborator the relay has no
// account for is refused (exit 1, naming it, the playlist unchanged).
// Before, it was set: whoever signed up under that name later could edit
// the playlist. With the relay down the name cannot be checked and is
// kept, with a note, as an offline edit must be; so it is on a relay
// without the social service (no user directory: every profile is 404,
// the caller's own too). Adding a track the
// catalog lacks is kept too, with a warning naming it.
func TestPlaylistCollabUnknownUser(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions()).Mount(srv)
	}))
	tmp := t.TempDir()
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_PASSWORD", "a long enough secret")
	ada := []string{"--data", filepath.Join(tmp, "ada"), "--user", "ada", "--signup"}
	bob := []string{"--data", filepath.Join(tmp, "bob"), "--user", "bob", "--signup"}
	id := strings.TrimSpace(segueExit(t, 0, append([]string{"playlist", "create", "Mix"}, ada...)...).stdout)
	segueExit(t, 0, append([]string{"playlist", "list"}, bob...)...)

	res := segueExit(t, 1, append([]string{"playlist", "collab", id, "bob", "ghost"}, ada...)...)
	if !strings.Contains(res.stderr, "unknown user: ghost: no such account on the relay; nothing changed") {
		t.Fatalf("collab with an unknown user: stderr %q", res.stderr)
	}
	if show := segueExit(t, 0, append([]string{"playlist", "show", id}, ada...)...); !strings.Contains(show.stdout, "collaborators=[]") {
		t.Fatalf("after the refused collab:\n%s", show.stdout)
	}
	if show := segueExit(t, 0, append([]string{"playlist", "collab", id, "bob"}, ada...)...); !strings.Contains(show.stdout, "collaborators=[bob]") {
		t.Fatalf("after collab bob:\n%s", show.stdout)
	}

	res = segueExit(t, 0, append([]string{"playlist", "add", id, string(r.Tracks[0]), "trnotinthecatalog"}, ada...)...)
	if !strings.Contains(res.stderr, "warning: not in the relay's catalog, added anyway (play skips them): trnotinthecatalog\n") ||
		strings.Contains(res.stderr, string(r.Tracks[0])+"\n") {
		t.Fatalf("add with a track the catalog lacks: stderr %q", res.stderr)
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	res = segueExit(t, 0, append([]string{"playlist", "collab", id, "bob", "carol"}, ada...)...)
	if !strings.Contains(res.stderr, "could not check bob, carol with the relay (offline?): kept as given") ||
		!strings.Contains(res.stdout, "collaborators=[bob carol]") {
		t.Fatalf("collab with the relay down:\nstdout: %s\nstderr: %s", res.stdout, res.stderr)
	}
}

// TestPlaylistCollabNoDirectory: a relay without the social service
// cannot tell which users exist; collaborators are kept, with a note.
func TestPlaylistCollabNoDirectory(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false))
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_PASSWORD", "a long enough secret")
	ada := []string{"--data", filepath.Join(t.TempDir(), "ada"), "--user", "ada", "--signup"}
	res := segue(t, append([]string{"playlist", "create", "Mix"}, ada...)...)
	if res.code != 0 {
		t.Fatalf("create: exit %d: %s", res.code, res.stderr)
	}
	res = segue(t, append([]string{"playlist", "collab", strings.TrimSpace(res.stdout), "bob"}, ada...)...)
	if res.code != 0 || !strings.Contains(res.stderr, "could not check bob with the relay (the relay has no user directory): kept as given") ||
		!strings.Contains(res.stdout, "collaborators=[bob]") {
		t.Fatalf("collab: exit %d\nstdout: %s\nstderr: %s", res.code, res.stdout, res.stderr)
	}
}
