package relay_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/ingest/segment"
)

// publishDemoTrack segments, encrypts and publishes the committed libvorbis
// encode of demo track 1 (high tier), as ingest does.
func publishDemoTrack(t testing.TB, dir string) (published, []byte, *segment.Stream) {
	t.Helper()
	ctx := context.Background()
	ogg, err := demoalbum.FS.ReadFile("data/01.high.ogg")
	if err != nil {
		t.Fatal(err)
	}
	st, err := segment.Split(ogg, segment.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	key, err := crypto.NewContentKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := published{artist: model.Artist{ID: "ar1", Name: "Demo"}, tier: model.TierHigh, key: key}
	put := func(idx uint64, plain []byte) (model.BlobRef, []byte) {
		enc := crypto.EncryptBlob(key, idx, plain)
		h, err := dd.Catalog.PutBlob(ctx, enc)
		if err != nil {
			t.Fatal(err)
		}
		return model.BlobRef{Size: int64(len(enc)), SHA256: h}, enc
	}
	m := &model.Manifest{Version: model.ManifestVersion, TrackID: "tr1", Tier: p.tier, Codec: model.CodecVorbis,
		SampleRate: st.SampleRate, Channels: st.Channels, TotalSamples: st.TotalSamples, Bitrate: st.NominalBitrate}
	m.Header, p.header = put(0, st.Header)
	for i, c := range st.Chunks {
		ref, enc := put(uint64(i)+1, c.Data)
		p.chunks = append(p.chunks, enc)
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: c.FirstSample, Samples: c.Samples,
			PrimerSize: int64(c.PrimerSize), Blob: ref})
	}
	env, err := crypto.SignManifest(dd.Signer, m)
	if err != nil {
		t.Fatal(err)
	}
	p.track = model.Track{ID: "tr1", Title: "Demo 1", ArtistIDs: []model.ArtistID{"ar1"}, AlbumID: "al1", TrackNumber: 1,
		DiscNumber: 1, SampleRate: st.SampleRate, Channels: st.Channels, Samples: st.TotalSamples, Tiers: []model.Tier{p.tier}}
	p.album = model.Album{ID: "al1", Title: "Demo", ArtistIDs: []model.ArtistID{"ar1"}, TrackIDs: []model.TrackID{"tr1"}}
	if err := dd.Catalog.Publish(ctx, catalog.Release{Album: p.album, Artists: []model.Artist{p.artist},
		Tracks: []catalog.TrackRelease{{Track: p.track, Streams: []catalog.Stream{{Tier: p.tier, Envelope: env, Key: key}}}}}); err != nil {
		t.Fatal(err)
	}
	return p, ogg, st
}

// TestEndToEndRealAudio streams a real Vorbis track through the relay as
// a device would: verify the manifest with the catalog key from
// registration, get the content key sealed to the device, fetch header
// and chunks (one of them in two Range requests), decrypt, and check that
// the stream is the original file byte for byte and that header ‖ chunk
// decodes with oggdec to exactly the chunk's samples.
func TestEndToEndRealAudio(t *testing.T) {
	var ogg []byte
	var st *segment.Stream
	e := startRelayWith(t, func(dir string) published {
		var p published
		p, ogg, st = publishDemoTrack(t, dir)
		return p
	})
	res := e.do(t, "GET", "/v1/audio/tr1/high/manifest", nil, e.token)
	m, err := crypto.OpenManifest(ed25519.PublicKey(e.catPK), res.body)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.TotalSamples != st.TotalSamples || len(m.Chunks) < 3 {
		t.Fatalf("manifest: %d samples in %d chunks", m.TotalSamples, len(m.Chunks))
	}
	res = e.do(t, "POST", "/v1/keys/stream", map[string]string{"track": "tr1", "tier": "high"}, e.token)
	var sk api.StreamKeyResponse
	res.json(t, &sk)
	key, err := e.id.UnwrapContentKey(crypto.StreamKeyInfo("tr1", model.TierHigh), sk.Wrapped)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(path string, hdr ...string) []byte {
		res := e.do(t, "GET", path, nil, e.token, hdr...)
		if res.code != 200 && res.code != 206 {
			t.Fatalf("%s: %d", path, res.code)
		}
		return res.body
	}
	header := crypto.EncryptBlob(key, 0, fetch("/v1/audio/tr1/high/header"))
	plain := [][]byte{}
	for i, c := range m.Chunks {
		path := fmt.Sprintf("/v1/audio/tr1/high/chunks/%d", i)
		if i == 1 { // two ranges, each decrypted on its own at its offset
			half := c.Blob.Size / 2
			a := fetch(path, "Range", fmt.Sprintf("bytes=0-%d", half-1))
			b := fetch(path, "Range", fmt.Sprintf("bytes=%d-", half))
			crypto.XORKeyStream(key, uint64(i)+1, 0, a, a)
			crypto.XORKeyStream(key, uint64(i)+1, half, b, b)
			plain = append(plain, append(a, b...))
			continue
		}
		enc := fetch(path)
		if crypto.BlobHash(enc) != c.Blob.SHA256 {
			t.Fatalf("chunk %d hash mismatch", i)
		}
		plain = append(plain, crypto.EncryptBlob(key, uint64(i)+1, enc))
	}
	whole := append([]byte{}, header...)
	for i, p := range plain {
		whole = append(whole, p[m.Chunks[i].PrimerSize:]...)
	}
	if !bytes.Equal(whole, ogg) {
		t.Fatal("header ‖ chunks without primers is not the original file")
	}

	oggdec := testtool.Need(t, "oggdec")
	dir := t.TempDir()
	for _, i := range []int{0, 1, len(m.Chunks) - 1} {
		in, out := filepath.Join(dir, fmt.Sprintf("c%d.ogg", i)), filepath.Join(dir, fmt.Sprintf("c%d.raw", i))
		if err := os.WriteFile(in, append(append([]byte{}, header...), plain[i]...), 0o600); err != nil {
			t.Fatal(err)
		}
		if msg, err := exec.Command(oggdec, "-Q", "-R", "-o", out, in).CombinedOutput(); err != nil {
			t.Fatalf("oggdec chunk %d: %v\n%s", i, err, msg)
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(len(raw) / (2 * m.Channels)); got != m.Chunks[i].Samples {
			t.Errorf("chunk %d decodes to %d samples, manifest says %d", i, got, m.Chunks[i].Samples)
		}
	}
}
