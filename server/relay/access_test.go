package relay_test

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
)

// TestAccessRecords: every audio body the relay sends to a device becomes
// one access record naming the device, what was sent and how many bytes;
// HEAD, 304 and errors record nothing.
func TestAccessRecords(t *testing.T) {
	e := startRelayTB(t, func(dir string) published { return publishSynthetic(t, dir, 3, 10000) },
		func(o testbed.Options) testbed.Options { return o.WithAccessLog(true) })
	c1 := crypto.BlobHash(e.pub.chunks[1])
	etag := `"` + hex.EncodeToString(c1[:]) + `"`
	reqs := []struct {
		path string
		hdr  []string
		code int
	}{
		{"/v1/audio/tr1/high/chunks/1", nil, 200},
		{"/v1/audio/tr1/high/chunks/2", []string{"Range", "bytes=100-199"}, 206},
		{"/v1/audio/tr1/high/header", nil, 200},
		{"/v1/blobs/" + hex.EncodeToString(c1[:]), nil, 200},
		{"/v1/audio/tr1/high/chunks/1", []string{"If-None-Match", etag}, 304},
		{"/v1/audio/tr1/high/chunks/9", nil, 404},
		{"/v1/audio/tr1/high/chunks/0", []string{"Range", "bytes=10000-"}, 416},
	}
	for _, r := range reqs {
		if res := e.do(t, "GET", r.path, nil, e.token, r.hdr...); res.code != r.code {
			t.Fatalf("GET %s: %d, want %d", r.path, res.code, r.code)
		}
	}
	if res := e.do(t, "HEAD", "/v1/audio/tr1/high/chunks/0", nil, e.token); res.code != 200 {
		t.Fatalf("HEAD: %d", res.code)
	}
	ctx := context.Background()
	if err := e.tb.AccessLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dataDir := e.tb.DataDir
	if err := e.tb.Stop(); err != nil {
		t.Fatal(err)
	}
	dd, err := catalog.OpenDataDir(ctx, dataDir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	var got []access.Record
	now := e.clock.Now()
	if err := access.NewStoreReader(dd.Store).Scan(ctx, now.Add(-time.Hour), now.Add(time.Hour), func(r access.Record) error {
		got = append(got, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	dev := e.id.DeviceID()
	want := []access.Record{
		{Kind: access.KindChunk, Track: "tr1", Tier: e.pub.tier, First: 1, Last: 1, Blob: c1, Bytes: 10000},
		{Kind: access.KindChunk, Track: "tr1", Tier: e.pub.tier, First: 2, Last: 2, Blob: crypto.BlobHash(e.pub.chunks[2]), Offset: 100, Bytes: 100},
		{Kind: access.KindHeader, Track: "tr1", Tier: e.pub.tier, Blob: crypto.BlobHash(e.pub.header)},
		{Kind: access.KindBlob, Blob: c1, Bytes: 10000},
	}
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		w.Time, w.Device = now.UnixMilli(), dev
		if w.Kind == access.KindHeader {
			w.Bytes = uint64(len(e.pub.header))
		}
		if got[i] != w {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], w)
		}
	}
}
