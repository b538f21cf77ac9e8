package crypto_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

func ExampleXORKeyStream() {
	key, _ := crypto.NewContentKey(rand.Reader)
	plain := bytes.Repeat([]byte("ogg page bytes "), 100)
	enc := crypto.EncryptBlob(key, 1, plain) // chunk 0 is blob 1

	// A player that fetched bytes [100, 160) with an HTTP Range request
	// decrypts them without the rest of the blob.
	part := make([]byte, 60)
	crypto.XORKeyStream(key, 1, 100, part, enc[100:160])
	fmt.Println(bytes.Equal(part, plain[100:160]))
	// Output: true
}

func ExampleOpenManifest() {
	catalogPub, catalogPriv, _ := ed25519.GenerateKey(rand.Reader)
	m := &model.Manifest{
		Version: model.ManifestVersion, TrackID: "t1", Tier: model.TierNormal, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, TotalSamples: 44100,
		Header: model.BlobRef{Size: 4000},
		Chunks: []model.Chunk{{Index: 0, Samples: 44100, Blob: model.BlobRef{Size: 12000}}},
	}
	env, err := crypto.SignManifest(catalogPriv, m)
	if err != nil {
		panic(err)
	}
	got, err := crypto.OpenManifest(catalogPub, env)
	fmt.Println(got.TrackID, got.TotalSamples, err)
	// Output: t1 44100 <nil>
}

func ExampleLoadOrCreateIdentity() {
	ctx := context.Background()
	ks := &crypto.MemoryKeyStore{} // apps use NewFileKeyStore or a keychain
	id, err := crypto.LoadOrCreateIdentity(ctx, ks, rand.Reader)
	if err != nil {
		panic(err)
	}
	again, _ := crypto.LoadOrCreateIdentity(ctx, ks, rand.Reader)
	fmt.Println(id.DeviceID() == again.DeviceID())

	// The relay wraps a content key to the device; only it can unwrap.
	key, _ := crypto.NewContentKey(rand.Reader)
	info := crypto.StreamKeyInfo("t1", model.TierHigh)
	wrapped, _ := crypto.WrapContentKey(id.HPKEPublic(), info, key)
	got, err := id.UnwrapContentKey(info, wrapped)
	fmt.Println(got == key, err)
	// Output:
	// true
	// true <nil>
}
