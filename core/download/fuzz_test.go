package download

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/api"
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
	for _, st := range []api.Statement{
		{Time: 1700000000000, Device: "dev1", Status: api.StatusOK, Nonce: nonce},
		{Time: 1, Device: "dev1", Status: api.StatusRevoked},
		{Time: -5, Device: "other", Status: "x"},
	} {
		payload, err := detEnc.Marshal(st)
		if err != nil {
			f.Fatal(err)
		}
		env, err := crypto.Sign(priv, api.StatementDomain, payload)
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

// FuzzParseDone feeds arbitrary done-bit keys and values (read back from
// the store, which another process or a damaged disk may have written) to
// parseDone: it must never panic, and an accepted entry must round-trip
// to its key.
func FuzzParseDone(f *testing.F) {
	var h [32]byte
	h[0], h[31] = 0xab, 0xcd
	val := binary.BigEndian.AppendUint64(append([]byte(nil), h[:]...), 4096)
	f.Add(doneKey(trackTier{"trabc", "low"}, 0), val)
	f.Add(doneKey(trackTier{"tr/x", "high"}, 7), val)
	f.Add([]byte(pDone+"low//\x00\x00\x00\x01"), val)
	f.Add([]byte(pDone), []byte{})
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if !bytes.HasPrefix(k, []byte(pDone)) {
			return
		}
		e, ok := parseDone(k, v)
		if !ok {
			return
		}
		idx := binary.BigEndian.Uint32(k[len(k)-4:])
		if got := doneKey(e.tt, int(idx)); !bytes.Equal(got, k) {
			t.Fatalf("parsed %q as %+v, which encodes to %q", k, e, got)
		}
	})
}

// FuzzHexDecode checks hexDecode against encoding/hex on blob names.
func FuzzHexDecode(f *testing.F) {
	f.Add([]byte(strings.Repeat("0f", 32)))
	f.Add([]byte("zz"))
	f.Fuzz(func(t *testing.T, src []byte) {
		var dst [32]byte
		n, err := hexDecode(dst[:], src)
		want, werr := hex.DecodeString(string(src))
		if err == nil && (werr != nil || n != 32 || !bytes.Equal(dst[:], want)) {
			t.Fatalf("hexDecode(%q) = %x, encoding/hex: %x %v", src, dst, want, werr)
		}
	})
}
