package edge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/access"
)

// TestEdgeAccessRecords: an edge with an access writer records, in the
// relay's format, each header, chunk and blob it serves with a body (hit
// or miss), for the device the parent's /v1/me named for the token, with
// the bytes sent and a range's offset; not manifests, HEAD, 304 or
// refusals.
func TestEdgeAccessRecords(t *testing.T) {
	f := newFixture(t)
	bob := testbed.Device(t, f.relay, "bob")
	dir := t.TempDir()
	w, err := access.NewFileWriter(dir, access.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	now := time.Now().Truncate(time.Millisecond)
	_, url := startEdge(t, DefaultOptions(f.origin.url).WithAccessWriter(w).WithClock(func() time.Time { return now }))
	track := f.relay.Tracks[0]
	base := "/v1/audio/" + string(track) + "/normal"

	_, header := get(t, url, base+"/header", f.token)
	_, chunk := get(t, url, base+"/chunks/1", f.token)
	get(t, url, base+"/chunks/1", f.token) // a hit is recorded too
	get(t, url, base+"/manifest", f.token) // not audio
	h := sha256.Sum256(chunk)
	blobPath := "/v1/blobs/" + hex.EncodeToString(h[:])
	if resp, _ := get(t, url, blobPath, bob.Token(), "Range", "bytes=10-19"); resp.StatusCode != http.StatusPartialContent {
		t.Fatalf("range: %d", resp.StatusCode)
	}
	get(t, url, blobPath, f.token, "If-None-Match", `"`+hex.EncodeToString(h[:])+`"`) // 304
	get(t, url, blobPath, "nope")                                                     // 401
	req, _ := http.NewRequest(http.MethodHead, url+blobPath, nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []access.Record
	err = access.NewFileReader(dir).Scan(context.Background(), now.Add(-time.Hour), now.Add(time.Hour), func(r access.Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	hh := sha256.Sum256(header)
	want := []access.Record{
		{Kind: access.KindHeader, Track: track, Tier: model.TierNormal, Blob: hh, Bytes: uint64(len(header))},
		{Kind: access.KindChunk, Track: track, Tier: model.TierNormal, First: 1, Last: 1, Blob: h, Bytes: uint64(len(chunk))},
		{Kind: access.KindChunk, Track: track, Tier: model.TierNormal, First: 1, Last: 1, Blob: h, Bytes: uint64(len(chunk))},
		{Kind: access.KindBlob, Blob: h, Offset: 10, Bytes: 10},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for i, r := range got {
		wantDev := f.device
		if want[i].Kind == access.KindBlob {
			wantDev = bob.DeviceID()
		}
		want[i].Device, want[i].Time = wantDev, now.UnixMilli()
		if r != want[i] {
			t.Errorf("record %d: %+v, want %+v", i, r, want[i])
		}
	}
}
