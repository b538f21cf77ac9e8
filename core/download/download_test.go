package download_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/catalog"
)

func demoBed(t *testing.T) (*bed, published) {
	var p published
	b := newBed(t, func(ctx context.Context, dd *catalog.DataDir) { p = publishDemo(t, ctx, dd) })
	return b, p
}

// play opens a track and reads its whole decrypted stream.
func play(ctx context.Context, e *core.Engine, id model.TrackID) ([]byte, error) {
	tr, err := e.OpenTrack(ctx, id, model.TierLow)
	if err != nil {
		return nil, err
	}
	r := tr.Stream(ctx)
	defer r.Close()
	return io.ReadAll(r)
}

// TestOfflinePlayback downloads an album, stops the relay, and plays the
// downloaded tracks from disk while a track that is not downloaded fails
// fast with ErrOffline; then it scans the data directory for plaintext.
func TestOfflinePlayback(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	var (
		evMu   sync.Mutex
		events []download.Event
	)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithEvents(func(e download.Event) {
		evMu.Lock()
		events = append(events, e)
		evMu.Unlock()
	}))
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	// Download the album except its last track: fetch it as a separate
	// track request afterwards to check shared accounting.
	if err := d.dl.Add(ctx, album); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tracks != len(p.tracks) || st.TracksDone != len(p.tracks) {
		t.Fatalf("status: %d tracks, %d done; want %d", st.Tracks, st.TracksDone, len(p.tracks))
	}
	var want int64
	for _, id := range p.tracks {
		want += encryptedSize(t, b, id)
	}
	if st.Bytes != want {
		t.Fatalf("storage accounting: %d bytes, want %d", st.Bytes, want)
	}
	if len(st.Licenses) != 1 || st.Licenses[0].Entries != len(p.tracks) {
		t.Fatalf("licenses: %+v", st.Licenses)
	}
	if got := st.Licenses[0].Until.Sub(st.Licenses[0].Expires); got != 48*time.Hour {
		t.Fatalf("grace %s", got)
	}
	done := 0
	evMu.Lock()
	seen := append([]download.Event(nil), events...)
	evMu.Unlock()
	for _, e := range seen {
		if e.Kind == download.EventTrackDone {
			done++
		}
	}
	if done != len(p.tracks) {
		t.Fatalf("%d track_done events, want %d", done, len(p.tracks))
	}
	// Adding one of the album's tracks again is shared: counted once.
	one := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	if err := d.dl.Add(ctx, one); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if st2, _ := d.dl.Status(ctx); st2.Bytes != want || st2.Tracks != len(p.tracks) {
		t.Fatalf("shared track counted twice: %d bytes %d tracks", st2.Bytes, st2.Tracks)
	}

	// Relay down: every downloaded track plays, byte for byte.
	b.up.Store(false)
	for _, id := range p.tracks {
		got, err := play(ctx, d.e, id)
		if err != nil {
			t.Fatalf("offline play %s: %v", id, err)
		}
		if !bytes.Equal(got, p.plain[string(id)+"/low"]) {
			t.Fatalf("offline play %s: stream differs from the original", id)
		}
	}
	// A track that is not downloaded fails fast and clearly.
	if err := d.dl.Remove(ctx, album); err != nil {
		t.Fatal(err)
	}
	if d.dl.Downloaded(p.tracks[1], model.TierLow) {
		t.Fatal("removed track still downloaded")
	}
	if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
		t.Fatal("track still requested on its own was removed")
	}
	if d.dl.Holds(p.tracks[1], model.TierLow) || !d.dl.Holds(p.tracks[0], model.TierLow) || d.dl.Holds(p.tracks[0], model.TierHigh) {
		t.Fatal("Holds: want the track still requested only, at its tier")
	}
	start := time.Now()
	_, err = play(ctx, d.e, p.tracks[1])
	if !errors.Is(err, core.ErrOffline) {
		t.Fatalf("not downloaded, relay down: %v, want ErrOffline", err)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("offline failure took %s", el)
	}
	d.e.SetOfflineMode(true)
	b.up.Store(true)
	start = time.Now()
	if _, err := play(ctx, d.e, p.tracks[1]); !errors.Is(err, core.ErrOffline) {
		t.Fatalf("offline mode: %v, want ErrOffline", err)
	}
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Fatalf("offline mode failure took %s", el)
	}
	if _, err := play(ctx, d.e, p.tracks[0]); err != nil {
		t.Fatalf("offline mode, downloaded: %v", err)
	}
	st3, _ := d.dl.Status(ctx)
	if st3.Bytes != encryptedSize(t, b, p.tracks[0]) || st3.Tracks != 1 {
		t.Fatalf("after removal: %d bytes, %d tracks", st3.Bytes, st3.Tracks)
	}
	d.close()

	// No Ogg page in the clear and no content key anywhere on disk.
	var needles [][]byte
	for _, k := range p.keys {
		needles = append(needles, append([]byte(nil), k[:]...))
	}
	scanDir(t, d.dir, needles)
}

func encryptedSize(t *testing.T, b *bed, id model.TrackID) int64 {
	env, err := b.dd.Catalog.Manifest(context.Background(), id, model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	m, err := crypto.OpenManifest(b.pub, env)
	if err != nil {
		t.Fatal(err)
	}
	n := m.Header.Size
	for _, c := range m.Chunks {
		n += c.Blob.Size
	}
	return n
}

// scanDir fails when any file under dir contains "OggS" or any needle.
func scanDir(t *testing.T, dir string, needles [][]byte) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		if bytes.Contains(b, []byte("OggS")) {
			t.Errorf("%s holds an Ogg page in the clear", p)
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds a content key", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 3 {
		t.Fatalf("scanned only %d files", files)
	}
}

func cryptoOpenManifest(b *bed, env []byte) (*model.Manifest, error) {
	return crypto.OpenManifest(b.pub, env)
}

// TestOfflineModePausesDownloads: Engine.SetOfflineMode(true) pauses the
// downloads (blobs in flight abandoned, no further request, Status and an
// event say why); turning it off resumes them to completion.
func TestOfflineModePausesDownloads(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	events := make(chan download.Event, 256)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithWorkers(1).WithEvents(func(e download.Event) {
		if e.Kind == download.EventPaused || e.Kind == download.EventResumed {
			events <- e
		}
	}))
	b.delay.Store(int64(100 * time.Millisecond))
	if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first blobs", func() bool { return blobRequests(b) >= 2 })
	d.e.SetOfflineMode(true)
	select {
	case e := <-events:
		if e.Kind != download.EventPaused || e.Reason != "offline mode" {
			t.Fatalf("event %+v, want paused (offline mode)", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no paused event")
	}
	time.Sleep(250 * time.Millisecond) // requests in flight at the pause finish counting
	paused := blobRequests(b)
	time.Sleep(500 * time.Millisecond)
	if n := blobRequests(b); n != paused {
		t.Fatalf("%d blob requests while paused", n-paused)
	}
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Paused != "offline mode" || st.TracksDone == len(p.tracks) {
		t.Fatalf("while paused: paused %q, %d of %d tracks done", st.Paused, st.TracksDone, len(p.tracks))
	}
	b.delay.Store(0)
	d.e.SetOfflineMode(false)
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range p.tracks {
		if !d.dl.Downloaded(id, model.TierLow) {
			t.Fatalf("%s not downloaded after resuming", id)
		}
	}
	select {
	case e := <-events:
		if e.Kind != download.EventResumed {
			t.Fatalf("event %+v, want resumed", e)
		}
	default:
		t.Fatal("no resumed event")
	}
	if tmp, _ := os.ReadDir(filepath.Join(d.dir, "blobs", "tmp")); len(tmp) != 0 {
		t.Fatalf("%d partial files left after the pause", len(tmp))
	}
	t.Logf("%d blob requests before the pause, %d in all", paused, blobRequests(b))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timeout: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRecordedMetadata: a download records the catalog metadata it
// resolved (the album, and every track's), which answers TrackInfo and
// AlbumInfo with the relay down and after a restart, lives as long as the
// download holding it, and costs no request per track for an album (its
// answer carries its tracks).
func TestRecordedMetadata(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	one := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	for _, r := range []download.Ref{album, one} {
		if err := d.dl.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range p.tracks {
		if n := b.count("/v1/tracks/" + string(id)); n != 0 {
			t.Fatalf("%d metadata requests for %s: the album's answer carries it", n, id)
		}
	}
	d.close()
	b.up.Store(false)
	d = b.openDevice(t, dir, "boot1", download.DefaultOptions())

	a, tracks, ok, err := d.dl.AlbumInfo(ctx, p.album)
	if err != nil || !ok || a.ID != p.album || len(tracks) != len(p.tracks) {
		t.Fatalf("AlbumInfo after a restart, relay down = %+v, %d tracks, %v, %v", a, len(tracks), ok, err)
	}
	for i, tr := range tracks {
		if tr.ID != p.tracks[i] || tr.Title == "" || tr.Samples == 0 || tr.AlbumID != p.album {
			t.Fatalf("recorded track %d = %+v", i, tr)
		}
		got, ok, err := d.dl.TrackInfo(ctx, tr.ID)
		if err != nil || !ok || got.Title != tr.Title {
			t.Fatalf("TrackInfo(%s) = %+v, %v, %v", tr.ID, got, ok, err)
		}
	}
	if _, _, ok, err := d.dl.AlbumInfo(ctx, "no-such-album"); ok || err != nil {
		t.Fatalf("AlbumInfo of an album not downloaded: ok %v, %v", ok, err)
	}

	// Removing the album drops its metadata but for the track still
	// downloaded on its own.
	if err := d.dl.Remove(ctx, album); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := d.dl.AlbumInfo(ctx, p.album); ok {
		t.Fatal("album metadata outlived its download")
	}
	if _, ok, _ := d.dl.TrackInfo(ctx, p.tracks[1]); ok {
		t.Fatal("track metadata outlived its download")
	}
	if tr, ok, err := d.dl.TrackInfo(ctx, p.tracks[0]); !ok || err != nil || tr.ID != p.tracks[0] {
		t.Fatalf("metadata of the track still downloaded: %+v, %v, %v", tr, ok, err)
	}
}
