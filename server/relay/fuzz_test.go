package relay

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/crypto"
)

func FuzzParseChunkIndex(f *testing.F) {
	for _, s := range []string{"0", "1", "17", "65535", "65536", "999999", "01", "-1", "+1", "1e3", "", "٣", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseChunkIndex(s)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: error %v is not ErrBadRequest", s, err)
			}
			return
		}
		if n < 0 || n >= 1<<16 || strconv.Itoa(n) != s {
			t.Fatalf("%q parsed to %d", s, n)
		}
	})
}

func FuzzParseBlobHash(f *testing.F) {
	h := crypto.BlobHash([]byte("seed"))
	f.Add(hex.EncodeToString(h[:]))
	f.Add("")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBlobHash(s)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: error %v is not ErrBadRequest", s, err)
			}
			return
		}
		if hex.EncodeToString(got[:]) != s {
			t.Fatalf("%q parsed to %x", s, got)
		}
	})
}

// FuzzDeviceRegistration feeds arbitrary POST /v1/devices bodies through
// decoding and proof checking: no panic, and only a body whose proof
// verifies is accepted.
func FuzzDeviceRegistration(f *testing.F) {
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	sp, hp := id.SignPublic(), id.HPKEPublic()
	real := api.RegisterRequest{Username: "ada", Password: "correct horse", Name: "phone", SignPub: sp, HPKEPub: hp,
		Issued: now.Unix(), Sig: id.Sign(crypto.DeviceProofMessage("ada", "phone", sp, hp, now))}
	seed, err := json.Marshal(real)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"sign_pub":"AAAA","sig":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var r api.RegisterRequest
		if json.Unmarshal(body, &r) != nil {
			return
		}
		if err := checkProof(&r, now); err != nil {
			if !errors.Is(err, ErrBadProof) {
				t.Fatalf("error %v is not ErrBadProof", err)
			}
			return
		}
		if len(r.SignPub) != 32 || len(r.HPKEPub) != 32 {
			t.Fatalf("accepted keys of %d and %d bytes", len(r.SignPub), len(r.HPKEPub))
		}
	})
}
