package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// TestRelayKill9Compaction SIGKILLs a real `segue relay` as soon as its
// /metrics show that it queued a compaction of a synced playlist: the
// device adds 5,000 entries at a time, each add acknowledged, until the
// relay compacts in the background (45,000 entries, nine adds, in the
// runs measured), and the relay is killed on the first look at /metrics
// that counts the compaction, while it builds and checks a snapshot of
// the whole playlist. The relay restarts on the same data directory, and
// a new device of the user, which syncs with the restarted relay only,
// holds every acknowledged entry in order. Before, no test killed the
// relay binary during a compaction: TestRelayKill9's rounds saw none.
func TestRelayKill9Compaction(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	ctx := t.Context()
	bin := buildSegue(t)
	tmp := t.TempDir()
	const admin = "kill9-admin-token-0123456789"
	args := []string{"--data", filepath.Join(tmp, "relay"), "--admin-token", admin, "--log-level", "warn"}
	r := startRelayProc(t, bin, append([]string{"--init"}, args...)...)
	devA := filepath.Join(tmp, "device-a")
	openA := func() (*core.Engine, *core.Docs) {
		t.Helper()
		return openAda(t, devA, r.url)
	}
	e, d := openA()
	testbed.Register(t, e, "ada", "a")
	id, err := d.Playlists().Create(ctx, "Compacted")
	if err != nil {
		t.Fatal(err)
	}
	const batch = 5000
	var acked []model.TrackID
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	waitAcked := func() {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := d.WaitInSync(wctx); err != nil {
			t.Fatalf("waiting for the relay to acknowledge %d entries: %v", len(acked), err)
		}
	}
	waitAcked()
	before := syncCompactions(t, r.url, admin)
	for i := 0; ; i++ {
		if i == 40 {
			t.Fatalf("no compaction after %d entries", len(acked))
		}
		tracks := make([]model.TrackID, batch)
		for j := range tracks {
			tracks[j] = model.TrackID(fmt.Sprintf("c0-%02d-%04d", i, j))
		}
		if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), tracks...); err != nil {
			t.Fatal(err)
		}
		waitAcked()
		acked = append(acked, tracks...)
		if syncCompactions(t, r.url, admin) > before {
			break
		}
	}
	r.kill9(t)
	d.Close()
	e.Close()
	r = startRelayProc(t, bin, args...)
	b := syncedDocs(t, testbed.Device(t, &testbed.Relay{URL: r.url}, "ada"), id)
	list := playlistTracks(t, b, id)
	b.Close()
	t.Logf("killed on a queued compaction; the restarted relay has %d entries for %d acknowledged", len(list), len(acked))
	if missing := notIn(list, acked); missing != "" || len(list) != len(acked) {
		t.Fatalf("the restarted relay has %d entries, %d acknowledged; first missing %q", len(list), len(acked), missing)
	}

	r.stop(t)
}
