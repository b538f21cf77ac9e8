package relay_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/relaysync"
)

// TestDataDirGone: while the relay's data directory is moved away (or
// removed), a write is 503 relay.ErrStorageGone, naming no path, and
// nothing of it is stored, and a device's sync connection that sends an
// edit is closed with 1013 and relaysync.ErrStorageGone; with the
// directory back the same write succeeds and the edit is stored. Before,
// the relay answered 201 to sign-ups and acknowledged edits whose commits
// went to files its next start did not find.
func TestDataDirGone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "relay")
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithDataDir(dir))
	ctx := t.Context()
	_, d, id := syncedPlaylist(t, r, "bob")
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.Rename(away, dir); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(restore)
	signup := func() (int, string) {
		res, err := http.Post(r.URL+"/v1/accounts", "application/json", strings.NewReader(`{"username":"grace","password":"correct horse"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	if code, body := signup(); code != http.StatusServiceUnavailable || !strings.Contains(body, relay.ErrStorageGone.Error()) || strings.Contains(body, dir) {
		t.Fatalf("sign-up with the data directory gone: %d %s, want 503 %q", code, body, relay.ErrStorageGone)
	}
	if err := d.Playlists().Rename(ctx, id, "stored later"); err != nil {
		t.Fatal(err)
	}
	if last := closedWith(t, d); !strings.Contains(last, "StatusTryAgainLater") || !strings.Contains(last, relaysync.ErrStorageGone.Error()) {
		t.Fatalf("the relay closed the sync connection with %q, want 1013 and %q", last, relaysync.ErrStorageGone)
	}
	restore()
	if code, body := signup(); code != http.StatusCreated {
		t.Fatalf("the refused sign-up with the directory back: %d %s", code, body)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
}

// closedWith waits until d's relay connection has ended with an error and
// returns the error's text.
func closedWith(t *testing.T, d *core.Docs) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := d.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if st.Relay.LastError != "" {
			return st.Relay.LastError
		}
		if time.Now().After(deadline) {
			t.Fatalf("the device's sync connection was never closed: %+v", st.Relay)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIngestDataDirGone: an admin ingest while the relay's data directory
// (where its uploads go, DIR/tmp) is moved away is 503
// relay.ErrStorageGone, naming no path. Before, it was 500 "internal
// error", the cause (stat DIR/tmp: no such file or directory) only in the
// relay's log.
func TestIngestDataDirGone(t *testing.T) {
	var dir string
	e := startRelayTB(t, func(d string) published { dir = d; return publishSynthetic(t, d, 1, 4096) },
		func(o testbed.Options) testbed.Options {
			return o.WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
				srv.MountIngest(relay.DefaultIngestOptions().WithTempDir(filepath.Join(dd.Dir, "tmp")))
			})
		})
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Rename(away, dir); err != nil {
			t.Error(err)
		}
	})
	body, contentType := upload{
		{"album", "album.json", `{"album":"A","album_artists":["X"],"tracks":[{"file":"a.wav","title":"T","artists":["X"]}]}`},
		{"file", "a.wav", strings.Repeat("x", 1<<10)},
	}.encode(t)
	res := e.do(t, "POST", api.AdminIngestPath, body, adminToken, "Content-Type", contentType)
	if res.code != http.StatusServiceUnavailable || res.errorMessage(t) != relay.ErrStorageGone.Error() {
		t.Fatalf("admin ingest with the data directory gone: %d %s, want 503 %q", res.code, res.body, relay.ErrStorageGone)
	}
}
