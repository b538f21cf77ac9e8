package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"
	"time"

	"github.com/segue-fm/segue/internal/demoalbum"
)

// sidecarFS is demoalbum.FS with its album.json replaced by data.
type sidecarFS struct{ data []byte }

func (s sidecarFS) Open(name string) (fs.File, error) {
	if name == demoalbum.AlbumPath {
		return fstest.MapFS{name: {Data: s.data}}.Open(name)
	}
	return demoalbum.FS.Open(name)
}

// demoSidecar returns the demo album's album.json with release_at set to
// v (a JSON value).
func demoSidecar(t *testing.T, v string) []byte {
	t.Helper()
	b, err := demoalbum.FS.ReadFile(demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m["release_at"] = json.RawMessage(v)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestIngestReleaseAt: album.json's release_at becomes the album's
// embargo, so the relay lists it in its release schedule (GET
// /v1/releases) and edges can pre-position it; a time before 1970 or
// not RFC 3339 is refused.
func TestIngestReleaseAt(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)
	req, err := LoadAlbum(sidecarFS{demoSidecar(t, `"2027-01-15T01:00:00+01:00"`)}, demoalbum.AlbumPath)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCatalog()
	res, err := Ingest(ctx, c, testSigner, req, DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg"))
	if err != nil {
		t.Fatal(err)
	}
	al, err := c.Album(ctx, res.Tracks[0].Track.AlbumID)
	if err != nil || al.ReleaseAt != at.Unix() {
		t.Fatalf("album %+v (%v): want ReleaseAt %d", al, err, at.Unix())
	}
	rel, err := c.Releases(ctx, at.Add(-time.Hour), 0)
	if err != nil || len(rel) != 1 || rel[0].ID != al.ID {
		t.Fatalf("release schedule %+v (%v), want the album", rel, err)
	}

	for _, bad := range []string{`"1960-01-01T00:00:00Z"`, `"next friday"`, `12`} {
		req, err := LoadAlbum(sidecarFS{demoSidecar(t, bad)}, demoalbum.AlbumPath)
		if err == nil {
			fresh, _ := newCatalog()
			_, err = Ingest(ctx, fresh, testSigner, req, DefaultOptions().WithEncoders("no-such-oggenc", "no-such-ffmpeg"))
		}
		if !errors.Is(err, ErrBadMetadata) {
			t.Errorf("release_at %s: %v, want ErrBadMetadata", bad, err)
		}
	}
}
