package download

import (
	"crypto/ed25519"
	"encoding/base64"
	"testing"

	"github.com/segue-fm/segue/crypto"
)

// FuzzParseStatement feeds arbitrary header values to the statement
// parser: it must never panic, and must accept only statements signed by
// the catalog key for this device.
func FuzzParseStatement(f *testing.F) {
	seed := make([]byte, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	nonce := []byte("0123456789abcdef")
	for _, st := range []statement{
		{Time: 1700000000000, Device: "dev1", Status: statusOK, Nonce: nonce},
		{Time: 1, Device: "dev1", Status: statusRevoked},
		{Time: -5, Device: "other", Status: "x"},
	} {
		payload, err := detEnc.Marshal(st)
		if err != nil {
			f.Fatal(err)
		}
		env, err := crypto.Sign(priv, statementDomain, payload)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(base64.RawURLEncoding.EncodeToString(env))
	}
	f.Add("")
	f.Add("not base64 !")
	f.Fuzz(func(t *testing.T, h string) {
		s, err := parseStatement(pub, h, "dev1", nil)
		if err == nil && s.Device != "dev1" {
			t.Fatalf("accepted a statement for %q", s.Device)
		}
	})
}
