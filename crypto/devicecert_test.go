package crypto_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

var certCatalog = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

// TestDeviceCert: a certificate verifies only against the catalog key
// that issued it and only for the key it names; garbage, oversized and
// wrong-domain envelopes are refused with ErrBadDeviceCert.
func TestDeviceCert(t *testing.T) {
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	other, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{8}, 64)))
	rogue := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	issued := time.UnixMilli(1_700_000_000_123)
	good, err := crypto.IssueDeviceCert(certCatalog, "alice", id.SignPublic(), issued)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := crypto.IssueDeviceCert(rogue, "alice", id.SignPublic(), issued)
	otherDomain, _ := crypto.Sign(certCatalog, "segue-other-v1", []byte{0xa0})
	pub := certCatalog.Public().(ed25519.PublicKey)
	tests := []struct {
		name string
		cert []byte
		key  ed25519.PublicKey
		ok   bool
	}{
		{"valid", good, id.SignPublic(), true},
		{"other catalog", forged, id.SignPublic(), false},
		{"other device", good, other.SignPublic(), false},
		{"other domain", otherDomain, id.SignPublic(), false},
		{"garbage", []byte{0xa1, 0x01}, id.SignPublic(), false},
		{"empty", nil, id.SignPublic(), false},
		{"too large", make([]byte, crypto.MaxDeviceCertSize+1), id.SignPublic(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := crypto.VerifyDeviceCert(pub, tc.cert, tc.key)
			if !tc.ok {
				if !errors.Is(err, crypto.ErrBadDeviceCert) {
					t.Fatalf("err = %v, want ErrBadDeviceCert", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := crypto.DeviceCert{User: "alice", Device: id.DeviceID(), SignPub: id.SignPublic(), Issued: issued.UnixMilli()}
			if c.User != want.User || c.Device != want.Device || !bytes.Equal(c.SignPub, want.SignPub) || c.Issued != want.Issued {
				t.Fatalf("cert = %+v, want %+v", c, want)
			}
		})
	}
}

// TestIssueDeviceCertRefuses an empty user or a key of the wrong size.
func TestIssueDeviceCertRefuses(t *testing.T) {
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	for name, tc := range map[string]struct {
		user string
		key  ed25519.PublicKey
	}{"no user": {"", id.SignPublic()}, "short key": {"alice", id.SignPublic()[:31]}} {
		if _, err := crypto.IssueDeviceCert(certCatalog, model.UserID(tc.user), tc.key, time.Now()); !errors.Is(err, crypto.ErrBadDeviceCert) {
			t.Errorf("%s: err = %v, want ErrBadDeviceCert", name, err)
		}
	}
}

// FuzzVerifyDeviceCert: arbitrary certificate bytes never panic, and
// whatever verifies names the expected key.
func FuzzVerifyDeviceCert(f *testing.F) {
	id, _ := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{9}, 64)))
	good, _ := crypto.IssueDeviceCert(certCatalog, "alice", id.SignPublic(), time.Unix(0, 0))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{})
	pub := certCatalog.Public().(ed25519.PublicKey)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := crypto.VerifyDeviceCert(pub, b, id.SignPublic())
		if err == nil && (!bytes.Equal(c.SignPub, id.SignPublic()) || c.User == "") {
			t.Fatalf("verified a certificate for another key: %+v", c)
		}
	})
}
