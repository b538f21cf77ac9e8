package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"regexp"
	"testing"
)

func testIdentity(t testing.TB, seed uint64) *Identity {
	id, err := NewIdentity(seeded(seed))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestIdentityDeterministic(t *testing.T) {
	a, b, c := testIdentity(t, 1), testIdentity(t, 1), testIdentity(t, 2)
	if a.DeviceID() != b.DeviceID() || !bytes.Equal(a.HPKEPublic(), b.HPKEPublic()) {
		t.Fatal("same seed gave different identities")
	}
	if a.DeviceID() == c.DeviceID() || bytes.Equal(a.HPKEPublic(), c.HPKEPublic()) {
		t.Fatal("different seeds gave the same identity")
	}
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(string(a.DeviceID())) {
		t.Fatalf("device id %q", a.DeviceID())
	}
	if DeviceIDFor(a.SignPublic()) != a.DeviceID() || len(a.HPKEPublic()) != HPKEPublicKeySize {
		t.Fatal("public accessors disagree")
	}
	msg := []byte("play event")
	if !ed25519.Verify(a.SignPublic(), msg, a.Sign(msg)) {
		t.Fatal("signature does not verify")
	}
	env, err := a.SignEnvelope("segue-test-v1", msg)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := Verify(a.SignPublic(), "segue-test-v1", env); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("envelope: %q, %v", got, err)
	}
}

func TestIdentityMarshal(t *testing.T) {
	a := testIdentity(t, 3)
	raw, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	b, err := UnmarshalIdentity(raw)
	if err != nil {
		t.Fatal(err)
	}
	if a.DeviceID() != b.DeviceID() || !bytes.Equal(a.HPKEPublic(), b.HPKEPublic()) {
		t.Fatal("unmarshal changed the identity")
	}
	ct, _ := SealTo(a.HPKEPublic(), []byte("i"), []byte("secret"))
	if pt, err := b.Open([]byte("i"), ct); err != nil || string(pt) != "secret" {
		t.Fatalf("reloaded identity cannot open: %v", err)
	}
	for _, bad := range [][]byte{nil, {0xa0}, raw[:len(raw)-1], append(bytes.Clone(raw), 0)} {
		if _, err := UnmarshalIdentity(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("unmarshal %x: %v", bad, err)
		}
	}
}

func TestSealOpen(t *testing.T) {
	dev, other := testIdentity(t, 4), testIdentity(t, 5)
	info := StreamKeyInfo("trk", "high")
	ct, err := SealTo(dev.HPKEPublic(), info, []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ct) != len("payload")+48 {
		t.Fatalf("ciphertext of %d bytes", len(ct))
	}
	flip := bytes.Clone(ct)
	flip[len(flip)-1] ^= 1
	tests := []struct {
		name string
		id   *Identity
		info []byte
		ct   []byte
		want error
	}{
		{"ok", dev, info, ct, nil},
		{"other-device", other, info, ct, ErrDecrypt},
		{"other-info", dev, StreamKeyInfo("trk", "low"), ct, ErrDecrypt},
		{"tampered", dev, info, flip, ErrDecrypt},
		{"truncated", dev, info, ct[:40], ErrDecrypt},
		{"empty", dev, info, nil, ErrDecrypt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.id.Open(tc.info, tc.ct)
			if !errors.Is(err, tc.want) || (tc.want == nil && (err != nil || string(pt) != "payload")) {
				t.Fatalf("open = %q, %v; want %v", pt, err, tc.want)
			}
		})
	}
	if _, err := SealTo(make([]byte, 31), info, nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("short public key: %v", err)
	}
}

func TestWrapContentKey(t *testing.T) {
	dev := testIdentity(t, 6)
	key, _ := NewContentKey(seeded(7))
	info := StreamKeyInfo("trk", "normal")
	w, err := WrapContentKey(dev.HPKEPublic(), info, key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dev.UnwrapContentKey(info, w)
	if err != nil || got != key {
		t.Fatalf("unwrap = %x, %v", got, err)
	}
	notKey, _ := SealTo(dev.HPKEPublic(), info, []byte("short"))
	if _, err := dev.UnwrapContentKey(info, notKey); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("unwrap of a non-key: %v", err)
	}
	if want := "segue-key-v1\x00trk\x00normal"; string(info) != want {
		t.Fatalf("info %q", info)
	}
}

func BenchmarkSealTo(b *testing.B) {
	dev := testIdentity(b, 8)
	pub := dev.HPKEPublic()
	for b.Loop() {
		if _, err := SealTo(pub, []byte("info"), testKey[:]); err != nil {
			b.Fatal(err)
		}
	}
}
