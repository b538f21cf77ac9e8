package crypto_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/crypto"
)

// TestRevocation: a notice verifies only under the catalog key that
// signed it, in its own domain; forged, tampered, oversized and
// device-certificate envelopes are refused with ErrBadRevocation.
func TestRevocation(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	at := time.UnixMilli(1_700_000_000_123)
	good, err := crypto.IssueRevocation(priv, "alice", "dev1", at)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := crypto.IssueRevocation(rogue, "alice", "dev1", at)
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-1] ^= 1
	id, _ := crypto.NewIdentity(rand.Reader)
	cert, _ := crypto.IssueDeviceCert(priv, "alice", id.SignPublic(), at)
	for _, tc := range []struct {
		name string
		env  []byte
		ok   bool
	}{
		{"good", good, true},
		{"forged", forged, false},
		{"tampered", tampered, false},
		{"device certificate", cert, false},
		{"empty", nil, false},
		{"too large", make([]byte, crypto.MaxRevocationSize+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := crypto.VerifyRevocation(pub, tc.env)
			if !tc.ok {
				if !errors.Is(err, crypto.ErrBadRevocation) {
					t.Fatalf("err = %v, want ErrBadRevocation", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := (crypto.Revocation{User: "alice", Device: "dev1", At: at.UnixMilli()}); r != want {
				t.Fatalf("got %+v, want %+v", r, want)
			}
		})
	}
	if _, err := crypto.IssueRevocation(priv, "", "dev1", at); !errors.Is(err, crypto.ErrBadRevocation) {
		t.Fatalf("empty user: err = %v", err)
	}
}
