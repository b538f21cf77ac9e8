package crypto

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testLicense(t testing.TB, dev *Identity, n int) (LicenseRequest, []byte, ed25519.PublicKey) {
	pub, priv := testKeys(t, 20)
	req := LicenseRequest{
		ID: "lic-1", User: "alice", Device: dev.DeviceID(),
		Issued: t0, Expires: t0.Add(30 * 24 * time.Hour), Grace: 48 * time.Hour, ServerTime: t0,
	}
	r := seeded(21)
	for i := range n {
		k, _ := NewContentKey(r)
		req.Keys = append(req.Keys, LicenseKey{TrackID: model.TrackID(fmt.Sprintf("trk-%d", i)), Tier: model.Tiers[i%4], Key: k})
	}
	env, err := IssueLicense(seeded(22), priv, dev.HPKEPublic(), req)
	if err != nil {
		t.Fatal(err)
	}
	return req, env, pub
}

func TestLicenseRoundTrip(t *testing.T) {
	dev := testIdentity(t, 30)
	req, env, pub := testLicense(t, dev, 50)
	l, err := OpenLicense(pub, dev, env)
	if err != nil {
		t.Fatal(err)
	}
	if l.ID != req.ID || l.User != req.User || l.Device != dev.DeviceID() || !l.Issued.Equal(req.Issued) ||
		!l.Expires.Equal(req.Expires) || l.Grace != req.Grace || !l.ServerTime.Equal(req.ServerTime) || len(l.Entries) != 50 {
		t.Fatalf("license fields: %+v", l)
	}
	for _, k := range req.Keys {
		got, err := l.ContentKey(k.TrackID, k.Tier)
		if err != nil || got != k.Key {
			t.Fatalf("key %s/%s: %x, %v", k.TrackID, k.Tier, got, err)
		}
	}
	if _, err := l.ContentKey("trk-0", model.TierHigh); !errors.Is(err, ErrNotLicensed) {
		t.Fatalf("unlicensed tier: %v", err)
	}
	tests := []struct {
		now     time.Time
		renew   bool
		expired bool
	}{
		{t0, false, false},
		{req.Expires.Add(-time.Millisecond), false, false},
		{req.Expires, true, false},
		{req.Expires.Add(47 * time.Hour), true, false},
		{req.Expires.Add(48 * time.Hour), true, true},
	}
	for _, tc := range tests {
		if got := l.NeedsRenewal(tc.now); got != tc.renew {
			t.Errorf("NeedsRenewal(%v) = %v", tc.now, got)
		}
		if err := l.Check(tc.now); errors.Is(err, ErrLicenseExpired) != tc.expired {
			t.Errorf("Check(%v) = %v", tc.now, err)
		}
	}
}

func TestOpenLicenseRejects(t *testing.T) {
	dev, other := testIdentity(t, 30), testIdentity(t, 31)
	req, env, pub := testLicense(t, dev, 3)
	otherPub, otherPriv := testKeys(t, 23)
	_, priv := testKeys(t, 20)

	// A license for dev, but sealed to other's HPKE key.
	missealed, err := IssueLicense(seeded(1), priv, other.HPKEPublic(), req)
	if err != nil {
		t.Fatal(err)
	}
	forOther := req
	forOther.Device = other.DeviceID()
	otherEnv, _ := IssueLicense(seeded(1), priv, other.HPKEPublic(), forOther)
	byOtherCatalog, _ := IssueLicense(seeded(1), otherPriv, dev.HPKEPublic(), req)

	// Swap two wrapped keys behind a valid signature: AAD binding catches it.
	payload, _ := Verify(pub, LicenseDomain, env)
	var p licensePayload
	if err := decMode.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	p.Entries[0].Wrapped, p.Entries[1].Wrapped = p.Entries[1].Wrapped, p.Entries[0].Wrapped
	swapped, _ := encMode.Marshal(p)
	p.Entries[0].Wrapped, p.Entries[1].Wrapped = p.Entries[1].Wrapped, p.Entries[0].Wrapped
	p.Entries[0].Tier = string(model.TierVeryHigh)
	retiered, _ := encMode.Marshal(p)
	p.Entries[0].Tier = string(req.Keys[0].Tier)
	p.Entries = append(p.Entries, p.Entries[0])
	dup, _ := encMode.Marshal(p)

	flip := bytes.Clone(env)
	flip[len(flip)/2] ^= 1
	tests := []struct {
		name string
		pub  ed25519.PublicKey
		id   *Identity
		env  []byte
		want error
	}{
		{"other-device", pub, other, env, ErrWrongDevice},
		{"issued-to-other", pub, dev, otherEnv, ErrWrongDevice},
		{"sealed-to-other-key", pub, dev, missealed, ErrDecrypt},
		{"other-catalog", pub, dev, byOtherCatalog, ErrUnknownKey},
		{"verify-with-other-catalog", otherPub, dev, env, ErrUnknownKey},
		{"tampered", pub, dev, flip, ErrBadSignature},
		{"swapped-entries", pub, dev, mustSign(t, priv, LicenseDomain, swapped), ErrDecrypt},
		{"changed-tier", pub, dev, mustSign(t, priv, LicenseDomain, retiered), ErrDecrypt},
		{"duplicate-entry", pub, dev, mustSign(t, priv, LicenseDomain, dup), ErrMalformed},
		{"manifest-domain", pub, dev, mustSign(t, priv, ManifestDomain, payload), ErrBadSignature},
		{"garbage-payload", pub, dev, mustSign(t, priv, LicenseDomain, []byte{0xa1, 0x63}), ErrMalformed},
		{"truncated", pub, dev, env[:len(env)-1], ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := OpenLicense(tc.pub, tc.id, tc.env)
			if !errors.Is(err, tc.want) {
				t.Fatalf("OpenLicense = %v, %v; want %v", l, err, tc.want)
			}
		})
	}
}

func TestIssueLicenseValidates(t *testing.T) {
	dev := testIdentity(t, 30)
	_, priv := testKeys(t, 20)
	good := LicenseRequest{ID: "l", Device: dev.DeviceID(), Issued: t0, Expires: t0.Add(time.Hour)}
	k := LicenseKey{TrackID: "a", Tier: model.TierLow}
	tests := []struct {
		name string
		mod  func(r *LicenseRequest)
	}{
		{"no-id", func(r *LicenseRequest) { r.ID = "" }},
		{"expires-before-issued", func(r *LicenseRequest) { r.Expires = t0 }},
		{"negative-grace", func(r *LicenseRequest) { r.Grace = -time.Second }},
		{"bad-tier", func(r *LicenseRequest) { r.Keys = []LicenseKey{{TrackID: "a", Tier: "ultra"}} }},
		{"duplicate", func(r *LicenseRequest) { r.Keys = []LicenseKey{k, k} }},
		{"nul-in-track", func(r *LicenseRequest) { r.Keys = []LicenseKey{{TrackID: "a\x00", Tier: model.TierLow}} }},
	}
	if _, err := IssueLicense(seeded(1), priv, dev.HPKEPublic(), good); err != nil {
		t.Fatalf("good request: %v", err)
	}
	for _, tc := range tests {
		r := good
		tc.mod(&r)
		if _, err := IssueLicense(seeded(1), priv, dev.HPKEPublic(), r); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestLicenseSize(t *testing.T) {
	dev := testIdentity(t, 30)
	_, env, pub := testLicense(t, dev, 10000)
	if len(env) > 1<<20 {
		t.Fatalf("10,000-entry license is %d bytes", len(env))
	}
	if _, err := OpenLicense(pub, dev, env); err != nil {
		t.Fatal(err)
	}
	t.Logf("10,000-entry license: %d bytes", len(env))
}

func FuzzOpenLicense(f *testing.F) {
	dev := testIdentity(f, 30)
	req, env, pub := testLicense(f, dev, 3)
	payload, _ := Verify(pub, LicenseDomain, env)
	f.Add(env)
	f.Add(payload)
	f.Add(env[:len(env)/3])
	f.Fuzz(func(t *testing.T, data []byte) {
		// HPKE sealing is randomised, so each fuzz worker signs its own
		// envelope; anything accepted must carry exactly req's keys.
		l, err := OpenLicense(pub, dev, data)
		if err != nil {
			return
		}
		if l.ID != req.ID || len(l.Entries) != len(req.Keys) {
			t.Fatalf("accepted a license the catalog never signed: %x", data)
		}
		for _, k := range req.Keys {
			if got, err := l.ContentKey(k.TrackID, k.Tier); err != nil || got != k.Key {
				t.Fatalf("accepted license yields wrong key for %s: %v", k.TrackID, err)
			}
		}
		// Behind a valid signature, any payload must be handled cleanly.
		var p licensePayload
		if decMode.Unmarshal(data, &p) == nil {
			_ = p.validate()
		}
	})
}

func BenchmarkOpenLicense10k(b *testing.B) {
	dev := testIdentity(b, 30)
	_, env, pub := testLicense(b, dev, 10000)
	b.SetBytes(int64(len(env)))
	for b.Loop() {
		if _, err := OpenLicense(pub, dev, env); err != nil {
			b.Fatal(err)
		}
	}
}
