package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/fxamacker/cbor/v2"
	"github.com/segue-fm/segue/core/model"
)

func testManifest() *model.Manifest {
	m := &model.Manifest{
		Version: model.ManifestVersion, TrackID: "trk-1", Tier: model.TierHigh, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, Loudness: model.Loudness{IntegratedLUFS: -9.25, TruePeakDBTP: -0.3},
		Header: model.BlobRef{Size: 4200, SHA256: BlobHash([]byte("h"))}, Bitrate: 160000,
	}
	var first int64
	for i, n := range []int64{44100, 88200, 176400, 12345} {
		m.Chunks = append(m.Chunks, model.Chunk{
			Index: i, FirstSample: first, Samples: n, PrimerSize: int64(min(i, 1) * 300),
			Blob: model.BlobRef{Size: 20000 + int64(i), SHA256: BlobHash([]byte{byte(i)})},
		})
		first += n
	}
	m.TotalSamples = first
	return m
}

func testKeys(t testing.TB, seed uint64) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

func TestManifestRoundTrip(t *testing.T) {
	pub, priv := testKeys(t, 10)
	m := testManifest()
	env, err := SignManifest(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := SignManifest(priv, testManifest())
	if !bytes.Equal(env, again) {
		t.Fatal("signing the same manifest twice gave different bytes")
	}
	got, err := OpenManifest(pub, env)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := EncodeManifest(m)
	p2, _ := EncodeManifest(got)
	if !bytes.Equal(p1, p2) || got.Chunks[2].Blob.SHA256 != m.Chunks[2].Blob.SHA256 || got.Loudness != m.Loudness {
		t.Fatalf("round trip changed the manifest: %+v", got)
	}
}

func TestSignManifestValidates(t *testing.T) {
	_, priv := testKeys(t, 10)
	m := testManifest()
	m.TotalSamples++
	if _, err := SignManifest(priv, m); !errors.Is(err, model.ErrBadManifest) {
		t.Fatalf("signing an invalid manifest: %v", err)
	}
}

// resign wraps an arbitrary payload in a correctly signed manifest
// envelope, to test payload checks behind a valid signature.
func resign(t testing.TB, priv ed25519.PrivateKey, payload []byte) []byte {
	env, err := Sign(priv, ManifestDomain, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestOpenManifestRejects(t *testing.T) {
	pub, priv := testKeys(t, 10)
	otherPub, otherPriv := testKeys(t, 11)
	env, err := SignManifest(priv, testManifest())
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := EncodeManifest(testManifest())

	var generic map[any]any
	if err := cbor.Unmarshal(payload, &generic); err != nil {
		t.Fatal(err)
	}
	unsorted, _ := cbor.EncOptions{Sort: cbor.SortNone}.EncMode()
	withUnknown := map[any]any{}
	for k, v := range generic {
		withUnknown[k] = v
	}
	withUnknown[uint64(99)] = "x"
	unknownField, _ := encMode.Marshal(withUnknown)
	// Duplicate key: the same map with key 1 repeated (pairs count + 1).
	dup := append([]byte{payload[0] + 1}, payload[1:]...)
	dup = append(dup, 0x01, 0x01)
	// Indefinite-length map with the same pairs.
	indef := append([]byte{0xbf}, payload[1:]...)
	indef = append(indef, 0xff)
	// A float64 where the deterministic encoding uses a shorter float.
	longFloat := map[any]any{}
	for k, v := range generic {
		longFloat[k] = v
	}
	floatMode, _ := cbor.EncOptions{Sort: cbor.SortCoreDeterministic, ShortestFloat: cbor.ShortestFloatNone}.EncMode()
	nonShortest, _ := floatMode.Marshal(longFloat)
	bad := testManifest()
	bad.Chunks[0].PrimerSize = 5
	badPayload, _ := encMode.Marshal(bad)

	flip := func(b []byte, i int) []byte { c := bytes.Clone(b); c[i] ^= 1; return c }
	unsortedPayload, _ := unsorted.Marshal(generic)
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		env  []byte
		want error
	}{
		{"other-catalog-key", otherPub, env, ErrUnknownKey},
		{"signed-by-other-key-claiming-ours", pub, swapKeyID(t, resignWith(t, otherPriv, payload), pub), ErrBadSignature},
		{"payload-bit-flip", pub, flip(env, 20), ErrBadSignature},
		{"signature-bit-flip", pub, flip(env, len(env)-20), ErrBadSignature},
		{"empty", pub, nil, ErrMalformed},
		{"not-cbor", pub, []byte("hello"), ErrMalformed},
		{"trailing-bytes", pub, append(bytes.Clone(env), 0), ErrMalformed},
		{"oversize", pub, make([]byte, MaxManifestSize+1), ErrMalformed},
		{"unknown-field", pub, resign(t, priv, unknownField), ErrMalformed},
		{"duplicate-key", pub, resign(t, priv, dup), ErrMalformed},
		{"indefinite-length", pub, resign(t, priv, indef), ErrMalformed},
		{"non-shortest-float", pub, resign(t, priv, nonShortest), ErrMalformed},
		{"invalid-manifest", pub, resign(t, priv, badPayload), model.ErrBadManifest},
		{"empty-payload", pub, resign(t, priv, nil), ErrMalformed},
		{"license-domain", pub, mustSign(t, priv, "segue-license-v1", payload), ErrBadSignature},
	}
	if !bytes.Equal(unsortedPayload, payload) {
		tests = append(tests, struct {
			name string
			pub  ed25519.PublicKey
			env  []byte
			want error
		}{"unsorted-keys", pub, resign(t, priv, unsortedPayload), ErrMalformed})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := OpenManifest(tc.pub, tc.env)
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenManifest = %v, %v; want %v", m, err, tc.want)
			}
		})
	}
}

func mustSign(t testing.TB, priv ed25519.PrivateKey, domain string, payload []byte) []byte {
	env, err := Sign(priv, domain, payload)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func resignWith(t testing.TB, priv ed25519.PrivateKey, payload []byte) []byte {
	return mustSign(t, priv, ManifestDomain, payload)
}

// swapKeyID rewrites an envelope's key id to pub's, keeping its signature.
func swapKeyID(t testing.TB, env []byte, pub ed25519.PublicKey) []byte {
	var e envelope
	if err := decMode.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	id := KeyID(pub)
	e.KeyID = id[:]
	out, err := encMode.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEnvelope(t *testing.T) {
	pub, priv := testKeys(t, 12)
	tests := []struct {
		name    string
		domain  string
		payload []byte
		wantErr error
	}{
		{"plain", "segue-test-v1", []byte("hello"), nil},
		{"empty-payload", "segue-test-v1", nil, nil},
		{"empty-domain", "", []byte("x"), ErrMalformed},
		{"nul-in-domain", "a\x00b", []byte("x"), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := Sign(priv, tc.domain, tc.payload)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("sign: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			got, err := Verify(pub, tc.domain, env)
			if err != nil || !bytes.Equal(got, tc.payload) {
				t.Fatalf("verify = %q, %v", got, err)
			}
			if _, err := Verify(pub, tc.domain+"x", env); !errors.Is(err, ErrBadSignature) {
				t.Fatalf("verify with other domain: %v", err)
			}
			id, err := EnvelopeKeyID(env)
			if err != nil || id != KeyID(pub) {
				t.Fatalf("EnvelopeKeyID = %x, %v", id, err)
			}
		})
	}
}

func FuzzOpenManifest(f *testing.F) {
	pub, priv := testKeys(f, 10)
	env, err := SignManifest(priv, testManifest())
	if err != nil {
		f.Fatal(err)
	}
	payload, _ := EncodeManifest(testManifest())
	f.Add(env)
	f.Add(payload)
	f.Add(env[:len(env)/2])
	f.Add([]byte{0xa3, 0x01, 0x40, 0x02, 0x40, 0x03, 0x40})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := OpenManifest(pub, data)
		if err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("accepted an invalid manifest: %v", err)
			}
			if !bytes.Equal(data, env) {
				t.Fatalf("accepted an envelope the key never signed: %x", data)
			}
		}
		// Payload checks behind a valid signature: any payload must be
		// decoded or rejected cleanly.
		if m, err := decodeManifest(data); err == nil {
			if err := m.Validate(); err != nil {
				t.Fatalf("decoded an invalid manifest: %v", err)
			}
			again, _ := EncodeManifest(m)
			if !bytes.Equal(again, data) {
				t.Fatalf("accepted a non-deterministic payload")
			}
		}
	})
}

// A resampled tier's timing survives signing and the strict, deterministic
// decoder.
func TestManifestTimingRoundTrip(t *testing.T) {
	pub, priv := testKeys(t, 11)
	m := testManifest()
	m.SampleRate = 16000
	m.Timing = &model.Timing{SourceRate: 44100, RunOffset: 617003, Follows: "trk-0"}
	for m.Timing.SourceSamples = 1; ; m.Timing.SourceSamples++ {
		if _, n := model.ResampledSpan(m.Timing.RunOffset, m.Timing.SourceSamples, 44100, 16000); n == m.TotalSamples {
			break
		}
	}
	env, err := SignManifest(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenManifest(pub, env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Timing == nil || *got.Timing != *m.Timing {
		t.Fatalf("timing %+v, want %+v", got.Timing, m.Timing)
	}
}
