package engine

import (
	"crypto/sha256"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
)

// FuzzDecodePreview feeds arbitrary bytes to the preview answer decoder:
// it never panics, and what it accepts is a valid one-chunk manifest of
// the asked track whose blobs match it.
func FuzzDecodePreview(f *testing.F) {
	h, a := []byte("header"), []byte("audio")
	good := api.PreviewAudio{Header: h, Audio: a, Manifest: model.Manifest{
		Version: model.ManifestVersion, TrackID: "t1", Tier: model.TierNormal, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: 10,
		Header: model.BlobRef{Size: int64(len(h)), SHA256: sha256.Sum256(h)},
		Chunks: []model.Chunk{{Samples: 10, Blob: model.BlobRef{Size: int64(len(a)), SHA256: sha256.Sum256(a)}}},
	}}
	b, err := cborx.Marshal(good)
	if err != nil {
		f.Fatal(err)
	}
	if _, err := decodePreview(b, "t1"); err != nil {
		f.Fatalf("the well-formed seed is refused: %v", err)
	}
	f.Add(b)
	f.Add([]byte{0xa0})
	f.Add(b[:len(b)/2])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePreview(b, "t1")
		if err != nil {
			return
		}
		m := p.Manifest()
		if m.Validate() != nil || m.TrackID != "t1" || len(m.Chunks) != 1 || sha256.Sum256(p.a.Audio) != m.Chunks[0].Blob.SHA256 {
			t.Fatalf("accepted %+v", m)
		}
	})
}
