package download_test

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestCrashChild is the downloading process of TestKill9Resume; it does
// nothing unless run as that child.
func TestCrashChild(t *testing.T) {
	dir, url, album := os.Getenv("SEGUE_DL_CHILD_DIR"), os.Getenv("SEGUE_DL_CHILD_URL"), os.Getenv("SEGUE_DL_CHILD_ALBUM")
	if dir == "" {
		t.Skip("helper process for TestKill9Resume")
	}
	ctx := context.Background()
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(url).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: album, Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	dl.Wait(ctx)
	time.Sleep(time.Minute) // the parent kills us long before
}

// TestKill9Resume kills a downloading process with SIGKILL, restarts the
// download in this process, and checks that it completes verified without
// refetching any blob that was complete at the kill.
func TestKill9Resume(t *testing.T) {
	b, p := demoBed(t)
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions()) // registers
	d.close()
	b.delay.Store(int64(150 * time.Millisecond))

	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SEGUE_DL_CHILD_DIR="+dir, "SEGUE_DL_CHILD_URL="+b.url, "SEGUE_DL_CHILD_ALBUM="+string(p.album))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for blobRequests(b) < 6 || len(blobFiles(t, dir)) < 3 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("child made no progress")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)          // some done bits committed, others in flight
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()
	time.Sleep(100 * time.Millisecond) // let in-flight handlers finish counting
	filesAtKill := len(blobFiles(t, dir))

	// Blobs the killed process had recorded as done.
	ctx := waitCtx(t)
	st, err := badgerstore.Open(ctx, dir+"/db", badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var doneAtKill []string
	st.Iterate(ctx, []byte("dl/done/"), false, func(_, v []byte) error {
		doneAtKill = append(doneAtKill, hex.EncodeToString(v[:32]))
		return nil
	})
	st.Close()
	total := 0
	for _, id := range p.tracks {
		total += blobCount(t, b, id)
	}
	if len(doneAtKill) == 0 || len(doneAtKill) >= total {
		t.Fatalf("%d of %d blobs done at the kill; want a partial download", len(doneAtKill), total)
	}
	before := map[string]int{}
	for _, h := range doneAtKill {
		before[h] = b.count("/v1/blobs/" + h)
	}

	b.delay.Store(0)
	d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range p.tracks {
		if !d.dl.Downloaded(id, model.TierLow) {
			t.Fatalf("%s not downloaded after resume", id)
		}
	}
	for h, n := range before {
		if got := b.count("/v1/blobs/" + h); got != n {
			t.Errorf("blob %s complete at the kill was fetched again (%d → %d requests)", h[:12], n, got)
		}
	}
	// Everything verifies and plays offline.
	b.up.Store(false)
	for _, id := range p.tracks {
		got, err := play(ctx, d.e, id)
		if err != nil || string(got) != string(p.plain[string(id)+"/low"]) {
			t.Fatalf("play %s after resume: %v", id, err)
		}
	}
	// No orphan or partial file survives: every blob file is a blob of a
	// downloaded track, and the temp directory is empty.
	want := map[string]bool{}
	for _, id := range p.tracks {
		for _, h := range blobHashes(t, b, id) {
			want[h] = true
		}
	}
	files := blobFiles(t, dir)
	for _, f := range files {
		if !want[f] {
			t.Errorf("orphan blob file %s after resume", f)
		}
	}
	if len(files) != len(want) {
		t.Errorf("%d blob files, want %d", len(files), len(want))
	}
	if tmp, _ := os.ReadDir(filepath.Join(dir, "blobs", "tmp")); len(tmp) != 0 {
		t.Errorf("%d temp files left", len(tmp))
	}
	t.Logf("%d of %d blobs were done at the kill, %d files on disk", len(doneAtKill), total, filesAtKill)
}

// blobFiles lists the blob files of a device directory as hex hashes.
func blobFiles(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir(filepath.Join(dir, "blobs"))
	for _, e := range ents {
		if !e.IsDir() && len(e.Name()) == 64 {
			out = append(out, e.Name())
		}
	}
	return out
}

// blobHashes returns the hex hashes of a track's blobs (low tier).
func blobHashes(t testing.TB, b *bed, id model.TrackID) []string {
	t.Helper()
	env, err := b.dd.Catalog.Manifest(context.Background(), id, model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cryptoOpenManifest(b, env)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{hex.EncodeToString(m.Header.SHA256[:])}
	for _, c := range m.Chunks {
		out = append(out, hex.EncodeToString(c.Blob.SHA256[:]))
	}
	return out
}

func blobRequests(b *bed) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for p, c := range b.counts {
		if len(p) > 10 && p[:10] == "/v1/blobs/" {
			n += c
		}
	}
	return n
}

func blobCount(t *testing.T, b *bed, id model.TrackID) int {
	env, err := b.dd.Catalog.Manifest(context.Background(), id, model.TierLow)
	if err != nil {
		t.Fatal(err)
	}
	m, err := cryptoOpenManifest(b, env)
	if err != nil {
		t.Fatal(err)
	}
	return len(m.Chunks) + 1
}

// TestBlobFilesRepair: at start, a done bit whose file is missing is
// downloaded again, and orphan and partial files are removed; a file
// whose bytes were altered is never played (the network serves the
// blob) and is downloaded again.
func TestBlobFilesRepair(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
	id := p.tracks[0]
	downloadOne(t, ctx, d, id)
	d.close()

	hashes := blobHashes(t, b, id)
	path := func(h string) string { return filepath.Join(dir, "blobs", h) }
	lost, bad := hashes[0], hashes[len(hashes)-1]
	if err := os.Remove(path(lost)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path(bad))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(path(bad), data, 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := strings.Repeat("ab", 32)
	partial := filepath.Join(dir, "blobs", "tmp", "blob-123")
	for _, f := range []string{path(orphan), partial} {
		if err := os.WriteFile(f, []byte("leftover"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string]int{lost: b.count("/v1/blobs/" + lost), bad: b.count("/v1/blobs/" + bad)}

	d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
	waitFor(t, "the lost blob is downloaded again", func() bool {
		_, err := os.Stat(path(lost))
		return err == nil && d.dl.Downloaded(id, model.TierLow)
	})
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path(orphan), partial} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s survived the start: %v", f, err)
		}
	}
	if n := b.count("/v1/blobs/" + lost); n != before[lost]+1 {
		t.Fatalf("lost blob fetched %d times", n-before[lost])
	}
	// Playing reads the altered file, rejects it, streams that blob from
	// the relay, and schedules the repair.
	got, err := play(ctx, d.e, id)
	if err != nil || string(got) != string(p.plain[string(id)+"/low"]) {
		t.Fatalf("play with a corrupt blob file: %v", err)
	}
	waitFor(t, "the corrupt blob is repaired", func() bool {
		data, err := os.ReadFile(path(bad))
		h := crypto.BlobHash(data)
		return err == nil && hex.EncodeToString(h[:]) == bad && d.dl.Downloaded(id, model.TierLow)
	})
	if n, err := d.dl.Verify(ctx); err != nil || n != 0 {
		t.Fatalf("verify after repair: %d bad, %v", n, err)
	}
	b.up.Store(false)
	if got, err := play(ctx, d.e, id); err != nil || string(got) != string(p.plain[string(id)+"/low"]) {
		t.Fatalf("offline play after repair: %v", err)
	}
}

// TestStatusAfterLostBlobs: blob files lost while the manager was closed
// show in the first Status (and Downloaded after it) of the next one,
// relay unreachable or not: reconciling runs in the background
// scheduler, and a command that opened the manager and asked at once
// (segue offline) was told the track was downloaded and its bytes used;
// Status now waits for it.
func TestStatusAfterLostBlobs(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
	id := p.tracks[0]
	downloadOne(t, ctx, d, id)
	d.close()
	for _, h := range blobHashes(t, b, id) {
		if err := os.Remove(filepath.Join(dir, "blobs", h)); err != nil {
			t.Fatal(err)
		}
	}
	b.up.Store(false)
	d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TracksDone != 0 || st.Bytes != 0 || d.dl.Downloaded(id, model.TierLow) {
		t.Fatalf("first status with every blob file lost: %d of %d tracks done, %d bytes, downloaded %v; want none",
			st.TracksDone, st.Tracks, st.Bytes, d.dl.Downloaded(id, model.TierLow))
	}
}
