package relay_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/relaysync"
)

// TestFullDisk runs the relay on a real 64 MiB ext4 (a loop device) and
// fills it: a write that cannot be stored is 507 with a message that
// names neither the data directory nor its files, and stores nothing
// (the same account can be created once there is room), for a sign-up
// (the store) and an admin ingest's upload (a file); reads go on being
// served; once the space is back writes succeed. Before, the relay died
// of SIGBUS in Badger's write to its mapped write-ahead log, and the
// upload was 400 naming the relay's path.
func TestFullDisk(t *testing.T) {
	mnt := testtool.SmallFS(t, 64)
	dir, uploads := filepath.Join(mnt, "relay"), filepath.Join(mnt, "uploads")
	if err := os.Mkdir(uploads, 0o700); err != nil {
		t.Fatal(err)
	}
	e := startRelayTB(t, func(string) published { return publishSynthetic(t, dir, 2, 4096) },
		func(o testbed.Options) testbed.Options {
			return o.WithDataDir(dir).WithMount(func(_ *catalog.DataDir, srv *relay.Server) {
				srv.MountIngest(relay.DefaultIngestOptions().WithTempDir(uploads))
			})
		})
	chunk := e.do(t, "GET", "/v1/audio/tr1/high/chunks/0", nil, e.token)
	if chunk.code != http.StatusOK {
		t.Fatalf("chunk before the disk filled: %d", chunk.code)
	}
	fill := testtool.Fill(t, mnt)
	// Cleanups run last first: the space is back before the relay closes.
	t.Cleanup(func() { os.Remove(fill) })
	account := func(i int) map[string]string {
		return map[string]string{"username": fmt.Sprintf("user%d", i), "password": "correct horse"}
	}
	fillLog(t, e.srv.Catalog().Store())
	var res response
	failed := 0
	for ; failed < 1000; failed++ {
		if res = e.do(t, "POST", "/v1/accounts", account(failed), adminToken); res.code != http.StatusCreated {
			break
		}
	}
	if res.code != http.StatusInsufficientStorage {
		t.Fatalf("sign-up %d on a full disk: %d %s, want 507", failed, res.code, res.body)
	}
	if msg := res.errorMessage(t); msg != relay.ErrStorageFull.Error() || strings.Contains(string(res.body), mnt) {
		t.Fatalf("507 says %q", res.body)
	}
	t.Logf("%d sign-ups acknowledged on the full disk, then %d %s", failed, res.code, res.body)
	// An admin ingest's upload finds the disk full: 507 as well. It was
	// 400 "bad request: read upload: write <the relay's path>: no space
	// left on device", blaming the client and naming the relay's files.
	body, contentType := upload{
		{"album", "album.json", `{"album":"A","album_artists":["X"],"tracks":[{"file":"a.wav","title":"T","artists":["X"]}]}`},
		{"file", "a.wav", strings.Repeat("x", 1<<20)},
	}.encode(t)
	up := e.do(t, "POST", api.AdminIngestPath, body, adminToken, "Content-Type", contentType)
	if up.code != http.StatusInsufficientStorage || up.errorMessage(t) != relay.ErrStorageFull.Error() {
		t.Fatalf("admin ingest on a full disk: %d %s, want 507", up.code, up.body)
	}
	if left, err := os.ReadDir(uploads); err != nil || len(left) != 0 {
		t.Fatalf("the refused upload left %v (%v)", left, err)
	}
	if again := e.do(t, "GET", "/v1/audio/tr1/high/chunks/0", nil, e.token); again.code != http.StatusOK || !bytes.Equal(again.body, chunk.body) {
		t.Fatalf("chunk on a full disk: %d", again.code)
	}
	if got := e.do(t, "GET", "/healthz", nil, ""); got.code != http.StatusOK {
		t.Fatalf("healthz on a full disk: %d", got.code)
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if res := e.do(t, "POST", "/v1/accounts", account(failed), adminToken); res.code != http.StatusCreated {
		t.Fatalf("the refused sign-up once the space is back: %d %s", res.code, res.body)
	}
}

// fillLog fills, on a full disk, what the store's write-ahead log has
// allocated ahead of its writes (up to 1 MiB) with ever smaller values,
// so that the next few small writes reach the end of it.
func fillLog(t *testing.T, st store.Store) {
	t.Helper()
	n := 0
	for size := 256 << 10; size >= 64; size /= 2 {
		for {
			n++
			err := st.Update(t.Context(), func(tx store.Txn) error {
				return tx.Set(store.Key("zz", store.U64(uint64(n))), make([]byte, size))
			})
			if errors.Is(err, badgerstore.ErrNoSpace) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFullDiskSync: a device's playlist edit that the relay cannot
// store because its disk is full (a real 64 MiB ext4) ends the sync
// connection with 1013 (try again later) and relaysync.ErrStorageFull,
// naming neither the store nor the data directory; the relay goes on;
// once the space is back the device's reconnection stores the edit, and
// another device of the user receives it. Before, the relay closed the
// connection with 1008 (policy violation) and its error chain as the
// reason ("repo: persist ID: badgerstore: not enough free disk space:",
// cut at 120 bytes just before the path of its memtable file).
func TestFullDiskSync(t *testing.T) {
	mnt := testtool.SmallFS(t, 64)
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false).WithDataDir(filepath.Join(mnt, "relay")))
	ctx := t.Context()
	_, d, id := syncedPlaylist(t, r, "ada")
	fill := testtool.Fill(t, mnt)
	t.Cleanup(func() { os.Remove(fill) })
	fillLog(t, r.Server().Catalog().Store())
	if err := d.Playlists().Rename(ctx, id, "stored later"); err != nil {
		t.Fatal(err)
	}
	if last := closedWith(t, d); !strings.Contains(last, "StatusTryAgainLater") || !strings.Contains(last, relaysync.ErrStorageFull.Error()) ||
		strings.Contains(last, "badgerstore") || strings.Contains(last, mnt) {
		t.Fatalf("the relay closed the sync connection with %q, want 1013 and %q", last, relaysync.ErrStorageFull)
	}
	if res, err := http.Get(r.URL + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz on a full disk: %v %v", res, err)
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	e2 := testbed.Device(t, r, "ada")
	d2, err := e2.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.Close() })
	if err := d2.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d2.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	pl, err := d2.Playlists().Get(ctx, id)
	if err != nil || pl.Info.Name != "stored later" {
		t.Fatalf("another device reads %+v (%v), want the edit made on the full disk", pl, err)
	}
}
