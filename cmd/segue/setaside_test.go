package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
)

// TestPlaylistListSaysSetAside: a playlist whose records on the device do
// not load is set aside, and segue playlist list (and sync now, sync
// status) says so on stderr with
// what to do: sync again for one the relay has (and, once received, that
// changes not sent before are only in the records set aside), nothing to
// receive for one never synced; segue playlist discard deletes what was
// kept, and the warning with it. Before, the list left it out and only
// the log (hidden by default) said why.
func TestPlaylistListSaysSetAside(t *testing.T) {
	ctx := context.Background()
	relayDir := filepath.Join(t.TempDir(), "relay")
	publishAlbum(t, relayDir, 1)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	dev := filepath.Join(t.TempDir(), "device")
	run := func(args ...string) (string, string) {
		t.Helper()
		code, out, errOut := runCmd(append(args, "-data", dev, "-relay", url, "-user", "ada")...)
		if code != 0 {
			t.Fatalf("segue %q: exit %d: %s%s", args, code, out, errOut)
		}
		return out, errOut
	}
	if code, _, errOut := runCmd("sync", "login", "-data", dev, "-relay", url, "-user", "ada", "-password", "correct horse battery", "-signup"); code != 0 {
		t.Fatalf("login: exit %d: %s", code, errOut)
	}
	shared, _ := run("playlist", "create", "Shared")
	shared = strings.TrimSpace(shared)
	run("sync", "now")
	local, _ := run("playlist", "create", "Only", "here")
	local = strings.TrimSpace(local)
	e, err := core.Open(ctx, dev, core.DefaultOptions().WithOrigins(url).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{shared, local} {
		if err := e.Store().Set(ctx, []byte("doc/"+id+"/snap"), []byte("not automerge")); err != nil {
			t.Fatal(err)
		}
	}
	e.Close()
	out, errOut := run("playlist", "list")
	if strings.Contains(out, shared) || strings.Contains(out, local) {
		t.Errorf("list shows a damaged playlist:\n%s", out)
	}
	for _, w := range []string{
		shared + " did not load", "segue sync now receives it again",
		local + " did not load", "never synced", "docbad/" + local + "/",
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("list stderr lacks %q:\n%s", w, errOut)
		}
	}
	// The relay never had local: the sync says so (exit 1) until the
	// library stops naming it, as the warning says.
	if code, out, errOut := runCmd("sync", "now", "-data", dev, "-relay", url, "-user", "ada"); code != 1 || !strings.Contains(out, "refused "+local) ||
		!strings.Contains(errOut, local+" did not load") {
		t.Errorf("sync now: exit %d, want 1 refusing %s and warning it was set aside:\n%s%s", code, local, out, errOut)
	}
	if _, errOut := run("sync", "status"); !strings.Contains(errOut, local+" did not load") || !strings.Contains(errOut, shared+" was set aside and received again") {
		t.Errorf("sync status stderr lacks the documents set aside:\n%s", errOut)
	}
	out, errOut = run("playlist", "list")
	if !strings.Contains(out, shared) || !strings.Contains(errOut, shared+" was set aside and received again") ||
		!strings.Contains(errOut, local+" did not load") || !strings.Contains(errOut, "segue playlist unfollow "+local) {
		t.Errorf("list after a sync:\nstdout: %s\nstderr: %s", out, errOut)
	}
	run("playlist", "unfollow", local)
	run("sync", "now")
	// discard deletes what was kept, and the warnings go with it; before,
	// they came back on every list and sync for good.
	for _, id := range []string{local, shared} {
		run("playlist", "discard", id)
	}
	if out, errOut = run("playlist", "list"); !strings.Contains(out, shared) || strings.Contains(errOut, "set aside") {
		t.Errorf("list after discarding:\nstdout: %s\nstderr: %s", out, errOut)
	}
	if code, _, errOut := runCmd("playlist", "discard", local, "-data", dev, "-relay", url, "-user", "ada"); code != 2 || !strings.Contains(errOut, "nothing set aside") {
		t.Errorf("second discard: exit %d, want 2 saying nothing is set aside: %s", code, errOut)
	}
}
